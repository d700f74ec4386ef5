package testbed

// TestbedName exposes testbedName to the tests.
var TestbedName = testbedName

// CollectCameras and ParseAlerts expose how the testbed reads the cameras'
// sample files and the cloud's alerts file.
var (
	CollectCameras = collectCameras
	ParseAlerts    = parseAlerts
)
