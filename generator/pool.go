package generator

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Quorum is how many Front End Servers of a pool must keep running for the
// pool to keep running: MustRun of its first OfFirst servers, by their
// place in the pool (OrdinalInCluster, the topology's order). DOMAIN.md
// section 11; Microsoft's "Pool-level quorum loss" (high availability,
// Skype for Business Server; the same table for Lync Server 2013, without
// the pools of 13 to 16 servers that only Skype for Business Server 2019
// allows).
type Quorum struct {
	Size    int `json:"size"`
	MustRun int `json:"must_run"`
	OfFirst int `json:"of_first"`
}

// QuorumOf is the quorum of a pool of size Front End Servers. A pool of one
// has none to spare: MustRun is 1.
func QuorumOf(size int) Quorum {
	q := Quorum{Size: size, OfFirst: size}
	switch {
	case size <= 2:
		q.MustRun = 1
	case size <= 4:
		q.MustRun = 2
	case size <= 6:
		q.MustRun = 3
	case size == 7:
		q.MustRun = 4
	case size <= 9:
		q.MustRun, q.OfFirst = 4, 7
	case size <= 12:
		q.MustRun, q.OfFirst = 5, 9
	default:
		q.MustRun, q.OfFirst = 7, 12
	}
	return q
}

// Holds tells whether the pool keeps its quorum with the servers at these
// places (0 is the first server of the pool) down.
func (q Quorum) Holds(down []int) bool {
	running, runningFirst := q.Size, q.OfFirst
	for _, i := range down {
		running--
		if i < q.OfFirst {
			runningFirst--
		}
	}
	return running >= q.MustRun && runningFirst >= q.MustRun
}

// String says the rule as a reviewer reads it.
func (q Quorum) String() string {
	if q.OfFirst < q.Size {
		return fmt.Sprintf("%d of its first %d servers must keep running", q.MustRun, q.OfFirst)
	}
	return fmt.Sprintf("%d of its %d servers must keep running", q.MustRun, q.Size)
}

// PoolOrder is the order in which a pool's Front End Servers are updated:
// waves of servers out of service together, one wave after the other,
// each after the gates of the one before.
type PoolOrder struct {
	Pool string `json:"pool"`
	// Members are the pool's servers by their place in the pool:
	// OrdinalInCluster, then the topology's order for those without one.
	Members []TopologyMachine `json:"members"`
	Quorum  Quorum            `json:"quorum"`
	// Waves are indexes into Members.
	Waves [][]int `json:"waves"`
	// ByDomain is true when the product's procedure goes by upgrade domain
	// (Lync Server 2013, with its readiness gate per domain); else by
	// failover and failback.
	ByDomain bool `json:"by_domain"`
	// Outage is true for a pool of one Front End Server, which no order
	// keeps in service.
	Outage bool `json:"outage"`
}

// OrderPool computes the order of a pool's Front End Servers for a product:
// one server at a time, upgrade domain by upgrade domain in the topology's
// order, by their place in the pool within a domain. Skype for Business
// Server's procedure fails over one server, then fails it back; Lync Server
// 2013's patches an upgrade domain whose servers may go down together, but
// each script reads the pool's gates just before its server leaves, which
// another server of its domain already out would fail: one at a time keeps
// the gates true.
func OrderPool(p Product, pool string, machines []TopologyMachine) PoolOrder {
	members := slices.Clone(machines)
	slices.SortStableFunc(members, func(a, b TopologyMachine) int {
		// A server without an ordinal comes after those with one, in topology order.
		return cmp.Compare(ordinalKey(a), ordinalKey(b))
	})
	o := PoolOrder{Pool: pool, Members: members, Quorum: QuorumOf(len(members)), ByDomain: !p.FailOver, Outage: len(members) == 1}
	// Upgrade domains in topology order, each with its servers by place in the pool.
	var domains []string
	for _, m := range machines {
		if !slices.Contains(domains, m.UpgradeDomain) {
			domains = append(domains, m.UpgradeDomain)
		}
	}
	for _, d := range domains {
		for i, m := range members {
			if m.UpgradeDomain != d {
				continue
			}
			o.Waves = append(o.Waves, []int{i})
		}
	}
	return o
}

func ordinalKey(m TopologyMachine) int {
	if m.Ordinal <= 0 {
		return 1 << 30
	}
	return m.Ordinal
}

// Check proves the order: every server of the pool in exactly one wave, and
// no wave that takes more servers out of service than the pool's quorum
// allows. A pool of one is an outage by nature, said as such.
func (o PoolOrder) Check() error {
	seen := make([]int, len(o.Members))
	for _, wave := range o.Waves {
		for _, i := range wave {
			if i < 0 || i >= len(o.Members) {
				return fmt.Errorf("pool %s: a wave names server %d of %d", o.Pool, i, len(o.Members))
			}
			seen[i]++
		}
		if !o.Outage && !o.Quorum.Holds(wave) {
			return fmt.Errorf("pool %s: the wave %s takes %d of %d Front End Servers down at once; %s", o.Pool, o.names(wave), len(wave), len(o.Members), o.Quorum)
		}
	}
	for i, n := range seen {
		if n != 1 {
			return fmt.Errorf("pool %s: %s is in %d waves, want 1", o.Pool, o.Members[i].Fqdn, n)
		}
	}
	return nil
}

func (o PoolOrder) names(wave []int) string {
	var names []string
	for _, i := range wave {
		names = append(names, o.Members[i].Fqdn)
	}
	return strings.Join(names, ", ")
}
