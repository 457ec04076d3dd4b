package generator

import (
	"fmt"
	"slices"
	"testing"
)

// syntheticPool is a pool of size Front End Servers spread over domains
// upgrade domains in turn, with their OrdinalInCluster in reverse of the
// topology's order when reversed is set.
func syntheticPool(size, domains int, reversed bool) []TopologyMachine {
	var ms []TopologyMachine
	for i := range size {
		ordinal := i + 1
		if reversed {
			ordinal = size - i
		}
		ms = append(ms, TopologyMachine{Fqdn: fmt.Sprintf("fe%02d.contoso.com", i+1), Pool: "pool.contoso.com",
			UpgradeDomain: fmt.Sprintf("UpgradeDomain%d", i%domains+1), Ordinal: ordinal})
	}
	return ms
}

// maxDown is the largest set of servers a pool can lose at once, chosen
// the way that spares its quorum most: those beyond its first servers
// first, then as many of the first as the rule allows.
func maxDown(q Quorum) []int {
	var down []int
	for i := q.OfFirst; i < q.Size; i++ {
		down = append(down, i)
	}
	for i := 0; i < q.OfFirst && q.Holds(append(slices.Clone(down), i)); i++ {
		down = append(down, i)
	}
	return down
}

// TestQuorumTable is Microsoft's table, size by size.
func TestQuorumTable(t *testing.T) {
	want := map[int][2]int{2: {1, 2}, 3: {2, 3}, 4: {2, 4}, 5: {3, 5}, 6: {3, 6}, 7: {4, 7}, 8: {4, 7}, 9: {4, 7},
		10: {5, 9}, 11: {5, 9}, 12: {5, 9}, 13: {7, 12}, 14: {7, 12}, 15: {7, 12}, 16: {7, 12}}
	for size, w := range want {
		if q := QuorumOf(size); q.MustRun != w[0] || q.OfFirst != w[1] {
			t.Errorf("pool of %d: %+v, want %d of the first %d", size, q, w[0], w[1])
		}
	}
}

// TestPoolOrderKeepsQuorum: for pools of 2 to 16 Front End Servers, every
// product, every spread over upgrade domains and both orders of their
// places, the computed order updates every server once and never takes
// more servers out of service at once than the pool's quorum allows; the
// check that proves it fails on a mutant that takes one server too many.
func TestPoolOrderKeepsQuorum(t *testing.T) {
	for _, key := range ProductKeys() {
		p, _ := LookupProduct(key)
		for size := 2; size <= 16; size++ {
			q := QuorumOf(size)
			limit := maxDown(q)
			if !q.Holds(limit) {
				t.Fatalf("pool of %d: the largest set down %v does not hold its quorum %s", size, limit, q)
			}
			for domains := 1; domains <= size; domains++ {
				for _, reversed := range []bool{false, true} {
					o := OrderPool(p, "pool.contoso.com", syntheticPool(size, domains, reversed))
					name := fmt.Sprintf("%s, %d servers in %d upgrade domains (reversed %v)", key, size, domains, reversed)
					if err := o.Check(); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					for _, wave := range o.Waves {
						if len(wave) != 1 {
							t.Fatalf("%s: a wave of %d servers, want one at a time", name, len(wave))
						}
						if len(wave) > len(limit) {
							t.Fatalf("%s: a wave of %d servers, more than the %d the quorum allows", name, len(wave), len(limit))
						}
					}
					// Mutant 1: one wave of the largest set the quorum allows, plus one server.
					over := append(slices.Clone(limit), firstNotIn(limit, size))
					mutant := PoolOrder{Pool: o.Pool, Members: o.Members, Quorum: o.Quorum, ByDomain: o.ByDomain, Waves: [][]int{over}}
					for i := range size {
						if !slices.Contains(over, i) {
							mutant.Waves = append(mutant.Waves, []int{i})
						}
					}
					if mutant.Check() == nil {
						t.Fatalf("%s: the check passes a wave of %d servers down at once: %v", name, len(over), over)
					}
					// Mutant 2: the computed order with its waves merged, from the first,
					// until one takes a server too many.
					merged := PoolOrder{Pool: o.Pool, Members: o.Members, Quorum: o.Quorum, ByDomain: o.ByDomain}
					var wave []int
					for k, w := range o.Waves {
						wave = append(wave, w...)
						if !q.Holds(wave) {
							merged.Waves = append([][]int{wave}, o.Waves[k+1:]...)
							break
						}
					}
					if merged.Waves != nil && merged.Check() == nil {
						t.Fatalf("%s: the check passes the merged wave %v", name, wave)
					}
				}
			}
		}
	}
}

// firstNotIn is the first place of a pool of size not in set.
func firstNotIn(set []int, size int) int {
	for i := range size {
		if !slices.Contains(set, i) {
			return i
		}
	}
	return -1
}

// TestQuorumCountsTheFirstServers: in the larger pools the rule is about
// the first servers, not any: a set the pool's size alone would allow
// breaks the quorum when it takes too many of the first.
func TestQuorumCountsTheFirstServers(t *testing.T) {
	for _, c := range []struct {
		size  int
		down  []int
		holds bool
	}{
		{8, []int{0, 1, 2}, true},
		{8, []int{0, 1, 2, 3}, false},
		{8, []int{7, 0, 1, 2}, true},
		{12, []int{9, 10, 11, 0, 1, 2, 3}, true},
		{12, []int{0, 1, 2, 3, 4}, false},
		{16, []int{12, 13, 14, 15, 0, 1, 2, 3, 4}, true},
		{16, []int{0, 1, 2, 3, 4, 5}, false},
		{3, []int{2}, true},
		{3, []int{0, 2}, false},
	} {
		if got := QuorumOf(c.size).Holds(c.down); got != c.holds {
			t.Errorf("pool of %d with %v down: holds %v, want %v", c.size, c.down, got, c.holds)
		}
	}
}
