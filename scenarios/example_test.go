package scenarios_test

import (
	"errors"
	"fmt"

	"github.com/edgesim/edgesim/scenarios"
)

func ExampleLoad() {
	doc := `apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: demo}
spec:
  duration: 30s
  sites:
    - name: shop
      nodes: 2
  links:
    - between: [site:shop, cloud]
      profile: 4g
      up: {delay: 45ms}
`
	s, err := scenarios.Load("demo.yaml", []byte(doc), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	uplink, _ := s.Link("shop-uplink")
	fmt.Println(s.Nodes()[1].Name, s.Nodes()[2].Name)
	fmt.Println(uplink.Up.Delay, uplink.Up.Rate, uplink.Down.Delay, uplink.Down.Rate)
	// Output:
	// shop-edge-1 shop-edge-2
	// 45ms 10Mbit 30ms 11Mbit
}

func ExampleErrorList() {
	doc := `apiVersion: edgesim.dev/v1alpha1
kind: Scenario
metadata: {name: demo}
spec:
  duration: 30s
  sites: [{name: shop}]
  links:
    - between: [site:shop, cloud]
      delya: 20ms
      rate: {up: 10mbps}
`
	_, err := scenarios.Load("demo.yaml", []byte(doc), "")
	var problems scenarios.ErrorList
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Printf("%d:%d %s\n", p.Line, p.Col, p.Path)
		}
	}
	// Output:
	// 9:7 spec.links[0].delya
	// 10:18 spec.links[0].rate.up
}

func ExampleProfile() {
	p, _ := scenarios.Profile("satellite")
	fmt.Println(p.Up.Delay, p.Up.Rate, p.Down.Rate, p.Up.Loss.Percent)
	// Output: 300ms 2Mbit 20Mbit 0.5%
}
