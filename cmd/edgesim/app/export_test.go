package app

// SLOMark exposes sloMark to the tests.
var SLOMark = sloMark
