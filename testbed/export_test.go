package testbed

// TestbedName exposes testbedName to the tests.
var TestbedName = testbedName
