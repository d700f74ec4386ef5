containerlab tools netem set -n clab-edge-store1 -i eth1 --delay 30ms
containerlab tools netem set -n clab-edge-store1 -i eth1 --bandwidth 5000
