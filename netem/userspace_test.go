package netem_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgesim/edgesim/netem"
)

func requireRoot() {
	if os.Geteuid() != 0 {
		Skip("needs root to create network namespaces and TUN devices")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		Skip("needs /dev/net/tun")
	}
}

var testbedN int

// ipState lists the names of the namespaces and of the host's interfaces.
func ipState() (ns, links []string) {
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			ns = append(ns, f[0])
		}
	}
	out, _ = exec.Command("ip", "-o", "link").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			links = append(links, f[1])
		}
	}
	return ns, links
}

func mustReadlink(p string) string {
	s, err := os.Readlink(p)
	Expect(err).NotTo(HaveOccurred())
	return s
}

func metricValue(reg *prometheus.Registry, name, link, dir string) float64 {
	want := map[string]string{"link": link, "direction": dir}
	mfs, err := reg.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	Fail("no metric " + name + " " + link + " " + dir)
	return 0
}

func udpPair(from, to *netem.Host, port int) (snd, rcv *net.UDPConn) {
	var err error
	Expect(to.Do(func() error {
		rcv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: to.Address(), Port: port})
		return err
	})).To(Succeed())
	Expect(from.Do(func() error {
		snd, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: to.Address(), Port: port})
		return err
	})).To(Succeed())
	DeferCleanup(snd.Close)
	DeferCleanup(rcv.Close)
	return snd, rcv
}

var _ = Describe("Userspace engine", func() {
	var (
		ctx   context.Context
		dir   string
		reg   *prometheus.Registry
		eng   *netem.Userspace
		a, b  *netem.Host
		name  string
		begin time.Time
	)
	BeforeEach(func() {
		requireRoot()
		ctx = context.Background()
		dir = GinkgoT().TempDir()
		reg = prometheus.NewRegistry()
		testbedN++
		name = fmt.Sprintf("t%d-%d", os.Getpid(), testbedN)
		var err error
		eng, err = netem.NewUserspace(ctx, netem.WithRegisterer(reg), netem.WithStateDir(dir), netem.WithName(name), netem.WithSeed(1))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(eng.Close(ctx)).To(Succeed()) })
		a, err = eng.AddHost(ctx, netem.HostSpec{Name: "edge-1", Group: "site:a"})
		Expect(err).NotTo(HaveOccurred())
		b, err = eng.AddHost(ctx, netem.HostSpec{Name: "cloud-1", Group: "cloud"})
		Expect(err).NotTo(HaveOccurred())
		begin = time.Now()
	})

	It("forwards UDP through the link with at least the configured delay, and counts it", func() {
		_, err := eng.Link(ctx, "site:a", "cloud", netem.LinkConfig{Delay: 20 * time.Millisecond}, netem.LinkConfig{})
		Expect(err).NotTo(HaveOccurred())
		snd, rcv := udpPair(a, b, 9000)
		const n = 50
		go func() {
			defer GinkgoRecover()
			buf := make([]byte, 100)
			for range n {
				binary.BigEndian.PutUint64(buf, uint64(time.Since(begin)))
				_, _ = snd.Write(buf)
			}
		}()
		buf := make([]byte, 2048)
		Expect(rcv.SetReadDeadline(time.Now().Add(10 * time.Second))).To(Succeed())
		for range n {
			k, err := rcv.Read(buf)
			Expect(err).NotTo(HaveOccurred())
			Expect(k).To(Equal(100))
			sent := time.Duration(binary.BigEndian.Uint64(buf))
			Expect(time.Since(begin) - sent).To(BeNumerically(">=", 20*time.Millisecond))
		}
		var up netem.LinkStats
		for _, s := range eng.Stats() {
			if s.Link == "site:a<->cloud" && s.Direction == netem.Up {
				up = s
			}
		}
		Expect(up.Packets).To(BeEquivalentTo(n))
		Expect(up.Bytes).To(BeEquivalentTo(n * 128)) // 100 + UDP 8 + IPv4 20
		Expect(metricValue(reg, netem.MetricBytes, "site:a<->cloud", netem.Up)).To(BeEquivalentTo(n * 128))
		Expect(metricValue(reg, netem.MetricPackets, "site:a<->cloud", netem.Up)).To(BeEquivalentTo(n))
		Expect(testutil.GatherAndCount(reg, netem.MetricQueueDelay)).To(BeNumerically(">=", 1))
		problems, err := testutil.GatherAndLint(reg)
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty())
	})

	It("partitions and heals a link", func() {
		l, err := eng.Link(ctx, "site:a", "cloud", netem.LinkConfig{}, netem.LinkConfig{})
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Partition(true)).To(Succeed())
		snd, rcv := udpPair(a, b, 9001)
		for range 10 {
			_, _ = snd.Write([]byte("x"))
		}
		Eventually(func() uint64 { return l.Stats()[netem.Up].Drops[netem.ReasonPartition] }).Should(BeEquivalentTo(10))
		Expect(l.Partition(false)).To(Succeed())
		_, _ = snd.Write([]byte("y"))
		buf := make([]byte, 10)
		Expect(rcv.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		k, err := rcv.Read(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf[:k])).To(Equal("y"))
	})

	It("carries TCP between namespaces and forwards unimpaired on an implicit link", func() {
		var ln net.Listener
		Expect(b.Do(func() (err error) {
			ln, err = net.Listen("tcp4", net.JoinHostPort(b.Address().String(), "9100"))
			return err
		})).To(Succeed())
		DeferCleanup(ln.Close)
		go func() {
			defer GinkgoRecover()
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = bufio.NewReader(c).WriteTo(c) // echo
		}()
		var c net.Conn
		Expect(a.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", net.JoinHostPort(b.Address().String(), "9100"), 5*time.Second)
			return err
		})).To(Succeed())
		defer c.Close()
		msg := strings.Repeat("edgesim", 10000)
		go func() { _, _ = c.Write([]byte(msg)) }()
		got := make([]byte, len(msg))
		Expect(c.SetReadDeadline(time.Now().Add(10 * time.Second))).To(Succeed())
		_, err := io.ReadFull(c, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got)).To(Equal(msg))
		Expect(eng.Stats()).To(ContainElement(HaveField("Link", "cloud<->site:a")))

		// Configuring the pair later takes the caller's orientation.
		l, err := eng.Link(ctx, "site:a", "cloud", netem.LinkConfig{}, netem.LinkConfig{})
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Name()).To(Equal("site:a<->cloud"))
		Expect(eng.Stats()).NotTo(ContainElement(HaveField("Link", "cloud<->site:a")))
		var up netem.LinkStats
		for _, s := range eng.Stats() {
			if s.Link == "site:a<->cloud" && s.Direction == netem.Up {
				up = s
			}
		}
		Expect(up.Bytes).To(BeNumerically(">=", len(msg))) // a -> b carried the message
	})

	It("makes the namespaces usable with ip netns exec", func() {
		out, err := exec.Command("ip", "netns", "exec", a.NetnsName(), "ip", "-o", "addr", "show", "dev", a.Interface()).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring(a.Address().String() + "/16"))
		out, err = exec.Command("ip", "netns", "exec", a.NetnsName(), "ip", "route", "get", b.Address().String()).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("dev " + a.Interface()))
	})

	It("attaches to an existing namespace by process id and leaves it in place", func() {
		proc := exec.Command("unshare", "--net", "sleep", "60")
		Expect(proc.Start()).To(Succeed())
		DeferCleanup(func() { _ = proc.Process.Kill(); _ = proc.Wait() })
		nsPath := fmt.Sprintf("/proc/%d/ns/net", proc.Process.Pid)
		// unshare replaces itself with sleep once the namespace exists.
		Eventually(func() (string, error) { return os.Readlink(nsPath) }).ShouldNot(Equal(mustReadlink("/proc/self/ns/net")))
		c, err := eng.AddHost(ctx, netem.HostSpec{Name: "node-1", Group: "cloud", PID: proc.Process.Pid})
		Expect(err).NotTo(HaveOccurred())
		Expect(c.NetnsName()).To(BeEmpty())
		out, err := exec.Command("nsenter", "--net="+nsPath, "ip", "-o", "addr", "show", "dev", c.Interface()).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring(c.Address().String()))
		snd, rcv := udpPair(a, c, 9200)
		_, err = snd.Write([]byte("hi"))
		Expect(err).NotTo(HaveOccurred())
		buf := make([]byte, 8)
		Expect(rcv.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		k, err := rcv.Read(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf[:k])).To(Equal("hi"))
		Expect(eng.Close(ctx)).To(Succeed())
		out, err = exec.Command("nsenter", "--net="+nsPath, "ip", "-o", "link").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).NotTo(ContainSubstring("es0"))
	})

	It("rejects bad hosts with one clear error and creates nothing", func() {
		_, err := eng.AddHost(ctx, netem.HostSpec{Name: "x", Group: "g", Address: net.IPv4(192, 168, 1, 1)})
		Expect(err).To(MatchError(ContainSubstring("not an IPv4 address in the subnet")))
		_, err = eng.AddHost(ctx, netem.HostSpec{Name: "edge-1", Group: "g"})
		Expect(err).To(MatchError(ContainSubstring("already exists")))
		_, err = eng.AddHost(ctx, netem.HostSpec{Name: "y"})
		Expect(err).To(MatchError(ContainSubstring("no group")))
		_, err = eng.AddHost(ctx, netem.HostSpec{Name: "z", Group: "g", NetnsPath: "/nonexistent/ns"})
		Expect(err).To(HaveOccurred())
		Expect(filepath.Join(netem.NetnsDir, "es-"+name+"-x")).NotTo(BeAnExistingFile())
		Expect(filepath.Join(netem.NetnsDir, "es-"+name+"-z")).NotTo(BeAnExistingFile())
		_, err = eng.Link(ctx, "a", "b", netem.LinkConfig{Loss: netem.Loss{Percent: 101}}, netem.LinkConfig{})
		Expect(err).To(MatchError(netem.ErrInvalidConfig))
		Expect(eng.Stats()).To(BeEmpty())
	})

	It("closes while packets are still flowing", func() {
		snd, _ := udpPair(a, b, 9300)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 1000)
			for {
				select {
				case <-stop:
					return
				default:
					_, _ = snd.Write(buf)
				}
			}
		}()
		Eventually(func() uint64 {
			var n uint64
			for _, s := range eng.Stats() {
				n += s.Packets
			}
			return n
		}).Should(BeNumerically(">", 1000))
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		Expect(eng.Close(cctx)).To(Succeed())
		close(stop)
		<-done
		Expect(a.NetnsPath()).NotTo(BeAnExistingFile())
	})

	It("removes its namespaces and record on Close", func() {
		path := a.NetnsPath()
		Expect(path).To(BeAnExistingFile())
		Expect(filepath.Join(dir, name+".json")).To(BeAnExistingFile())
		Expect(eng.Close(ctx)).To(Succeed())
		Expect(path).NotTo(BeAnExistingFile())
		Expect(filepath.Join(dir, name+".json")).NotTo(BeAnExistingFile())
	})
})

var _ = Describe("Cleanup on SIGTERM", func() {
	It("removes everything when the owner is told to stop", func() {
		requireRoot()
		dir := GinkgoT().TempDir()
		cmd, name := startHelperEngine(dir, "termed")
		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Expect(cmd.Wait()).To(Succeed())
		Expect(filepath.Join(netem.NetnsDir, "es-"+name+"-a")).NotTo(BeAnExistingFile())
		Expect(filepath.Join(netem.NetnsDir, "es-"+name+"-b")).NotTo(BeAnExistingFile())
		entries, _ := os.ReadDir(dir)
		Expect(entries).To(BeEmpty())
	})
})

var _ = Describe("Rootless", func() {
	It("runs in a user namespace where the machine allows it, else says what is missing", func() {
		requireRoot()
		for _, tool := range []string{"setpriv", "unshare"} {
			if _, err := exec.LookPath(tool); err != nil {
				Skip(tool + " is not installed")
			}
		}
		// A copy of the test binary that an unprivileged user may run.
		dir, err := os.MkdirTemp("", "es-rootless-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		Expect(os.Chmod(dir, 0o755)).To(Succeed())
		bin := filepath.Join(dir, "netem.test")
		data, err := os.ReadFile(os.Args[0])
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(bin, data, 0o755)).To(Succeed())
		state := filepath.Join(dir, "state")
		Expect(os.Mkdir(state, 0o700)).To(Succeed())
		Expect(os.Chown(state, 65534, 65534)).To(Succeed())
		cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"unshare", "--user", "--map-root-user", "--net", "--mount", bin, "-test.run=^TestNetem$")
		cmd.Env = append(os.Environ(), "EDGESIM_NETEM_HELPER_STATE_DIR="+state, fmt.Sprintf("EDGESIM_NETEM_HELPER_NAME=rootless%d", os.Getpid()))
		out, err := cmd.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		if err := cmd.Start(); err != nil {
			Skip("cannot start an unprivileged process: " + err.Error())
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		st, serr := os.Stat("/dev/net/tun")
		Expect(serr).NotTo(HaveOccurred())
		if st.Mode().Perm()&0o006 != 0o006 {
			_ = cmd.Wait()
			Expect(line).To(ContainSubstring("rootless: /dev/net/tun is not readable and writable by this user"))
			Skip("rootless needs a world-accessible /dev/net/tun; here it is " + st.Mode().Perm().String() + " and the engine said so")
		}
		if strings.Contains(line, "user namespace") || strings.Contains(line, "permission denied") {
			_ = cmd.Wait()
			Skip("this kernel does not allow rootless namespaces: " + line)
		}
		Expect(line).To(Equal("ready\n"))
		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Expect(cmd.Wait()).To(Succeed())
	})
})

var _ = Describe("Cleanup after SIGKILL", func() {
	It("removes what a killed engine left, and nothing else", func() {
		requireRoot()
		nsBefore, linksBefore := ipState()
		dir := GinkgoT().TempDir()
		cmd, name := startHelperEngine(dir, "killed")

		// A running owner's namespaces are left alone.
		rep, err := netem.Clean(context.Background(), dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(BeEmpty())
		Expect(rep.Skipped).To(HaveLen(1))

		Expect(cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		_ = cmd.Wait()
		Expect(filepath.Join(netem.NetnsDir, "es-"+name+"-a")).To(BeAnExistingFile())

		rep, err = netem.Clean(context.Background(), dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Removed).To(ContainElements("netns es-"+name+"-a", "netns es-"+name+"-b"))
		// Other processes on this machine may add namespaces meanwhile:
		// everything that was there is still there, and none of ours is.
		nsAfter, linksAfter := ipState()
		Expect(nsAfter).To(ContainElements(nsBefore))
		Expect(nsAfter).NotTo(ContainElement(HavePrefix("es-" + name + "-")))
		Expect(linksAfter).To(ContainElements(linksBefore))
		Expect(linksAfter).To(HaveLen(len(linksBefore)))
		entries, _ := os.ReadDir(dir)
		Expect(entries).To(BeEmpty())
	})
})

// startHelperEngine starts this test binary as an engine-owning helper
// process (named prefix<pid>, its state in dir) and waits until its host
// "a" exists.
func startHelperEngine(dir, prefix string) (*exec.Cmd, string) {
	GinkgoHelper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNetem$")
	name := fmt.Sprintf("%s%d", prefix, os.Getpid())
	cmd.Env = append(os.Environ(), "EDGESIM_NETEM_HELPER_STATE_DIR="+dir, "EDGESIM_NETEM_HELPER_NAME="+name)
	out, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	Expect(cmd.Start()).To(Succeed())
	line, err := bufio.NewReader(out).ReadString('\n')
	Expect(err).NotTo(HaveOccurred())
	Expect(line).To(Equal("ready\n"))
	Expect(filepath.Join(netem.NetnsDir, "es-"+name+"-a")).To(BeAnExistingFile())
	return cmd, name
}
