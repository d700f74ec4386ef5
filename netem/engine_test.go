package netem_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgesim/edgesim/netem"
)

var _ = Describe("Engine, as providers see it", func() {
	It("makes hosts and a link, counts the link's packets, cuts it, and removes everything on close", func() {
		requireRoot()
		ctx := context.Background()
		testbedN++
		name := fmt.Sprintf("e%d-%d", os.Getpid(), testbedN)
		eng, err := netem.NewEngine(ctx, netem.WithRegisterer(prometheus.NewRegistry()), netem.WithStateDir(GinkgoT().TempDir()), netem.WithName(name))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(eng.Close(ctx)).To(Succeed()) })
		a, err := eng.AddHost(ctx, netem.HostSpec{Name: "a", Group: "x"})
		Expect(err).NotTo(HaveOccurred())
		b, err := eng.AddHost(ctx, netem.HostSpec{Name: "b", Group: "y"})
		Expect(err).NotTo(HaveOccurred())
		Expect(a.NetnsPath()).To(Equal(filepath.Join(netem.NetnsDir, a.NetnsName())))

		// A failed call gives no handle at all (not a typed nil).
		h, err := eng.AddHost(ctx, netem.HostSpec{Name: "a", Group: "x"})
		Expect(err).To(HaveOccurred())
		Expect(h == nil).To(BeTrue(), "a typed nil in the interface") // BeNil accepts a typed nil
		lk, err := eng.Link(ctx, "", "y", netem.LinkConfig{}, netem.LinkConfig{})
		Expect(err).To(HaveOccurred())
		Expect(lk == nil).To(BeTrue(), "a typed nil in the interface")

		lk, err = eng.Link(ctx, "x", "y", netem.LinkConfig{}, netem.LinkConfig{})
		Expect(err).NotTo(HaveOccurred())
		var rcv *net.UDPConn
		Expect(b.Do(func() (err error) {
			rcv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: b.Address(), Port: 9100})
			return err
		})).To(Succeed())
		defer rcv.Close()
		var snd *net.UDPConn
		Expect(a.Do(func() (err error) {
			snd, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: b.Address(), Port: 9100})
			return err
		})).To(Succeed())
		defer snd.Close()
		up := func() netem.LinkStats {
			for _, s := range eng.Stats() {
				if s.Link == lk.Name() && s.Direction == netem.Up {
					return s
				}
			}
			return netem.LinkStats{}
		}
		_, err = snd.Write([]byte("hello"))
		Expect(err).NotTo(HaveOccurred())
		buf := make([]byte, 64)
		Expect(rcv.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		n, err := rcv.Read(buf)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(buf[:n])).To(Equal("hello"))
		Eventually(func() uint64 { return up().Packets }).Should(Equal(uint64(1)))

		Expect(lk.Partition(true)).To(Succeed())
		_, err = snd.Write([]byte("cut"))
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() uint64 { return up().Drops[netem.ReasonPartition] }).Should(Equal(uint64(1)))

		Expect(eng.Close(ctx)).To(Succeed())
		Expect(filepath.Join(netem.NetnsDir, a.NetnsName())).NotTo(BeAnExistingFile())
	})
})
