package nodeimage

// The K3s module graph. K3s pins its own fork of Kubernetes, containerd and
// cri-tools; building the node image's Kubernetes, containerd and crictl
// inside that graph, with the tags and C flags the k3s binary is built
// with, makes the two builds compile the same packages the same way, so
// the Go build cache serves the second from the first (on two cores that
// is most of a quarter of an hour). The k3s image builder
// (testbed/k3s/k3simage) builds the k3s binary from the same definitions.

// K3sModule is the Go module K3s is built from.
const K3sModule = "github.com/k3s-io/k3s"

// K3sModuleVersion is the K3s module version built when none is given: the
// one the Go module proxy resolves @latest to (plain release tags such as
// v1.35.1+k3s1 are not valid module versions and are refused).
const K3sModuleVersion = "v1.35.1-0.20260211145931-c5b158798933"

// K3sTags are upstream's build tags for Linux (scripts/build) without
// apparmor and seccomp, which only K3s's embedded containerd would use.
var K3sTags = []string{"ctrd", "netcgo", "osusergo", "providerless", "urfave_cli_no_docs", "sqlite_omit_load_extension"}

// K3sCgoCFlags are upstream's sqlite settings; kine's sqlite driver reads
// the database size from the dbstat table.
const K3sCgoCFlags = "-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1"
