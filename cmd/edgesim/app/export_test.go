package app

// SLOMark exposes sloMark to the tests.
var SLOMark = sloMark

// ProviderNames are the providers the commands offer, in help order.
var ProviderNames = providerNames

// PrintValidation exposes printValidation to the tests.
var PrintValidation = printValidation
