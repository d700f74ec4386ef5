# store-1's uplink: the edge router's eth1 faces the cloud router's eth1.
containerlab tools netem set -n clab-edge-store1 -i eth1 --delay 30ms --jitter 5ms --loss 0.5 --rate 5000
sudo containerlab tools netem set -n clab-edge-cloud -i eth1 --delay=35ms --rate 20000 --corruption 0.01
