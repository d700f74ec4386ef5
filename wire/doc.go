// Package wire holds the one definition of every message that crosses a
// process boundary in edgesim (docs/protocol.md):
//
//   - the camera ↔ edgenode data channel: [DataChannelLabel], [FrameMessage],
//     [DetectionsMessage] with its [Detection]s, and the camera id a WHIP
//     client names itself with ([ValidCameraID]);
//   - the alert an edge node posts to the cloud tier and the cloud records
//     ([Alert]);
//   - the sample files a camera writes for the testbed ([LatencyLine],
//     [GroundTruthLine]);
//   - the run token an HTTP request carries as its bearer ([BearerOK],
//     [RequireBearer]).
//
// Senders and receivers both use these types, so the JSON one side writes is
// the JSON the other side reads. The package is a leaf: it imports nothing of
// the project.
package wire
