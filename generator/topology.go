package generator

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// A topology is what Get-CsTopology -AsXml prints (root Topology: objects
// refer to each other by ClusterId, SqlInstanceId and ServiceId) or what
// Topology Builder saves (.tbxml, root TopologyBuilder: by UniqueId, with
// each SqlInstance inside its Cluster, and single-machine clusters whose
// Machine has no Fqdn). Both are read into the same few objects.

// TopologyServer is one server the procedure applies to, as a topology
// shows it: its facts, and what the reviewer needs beside them.
type TopologyServer struct {
	Facts Facts
	// Pools are the front-end pools whose user database the server holds
	// (a Standard Edition server is its own pool).
	Pools []string
	// FrontEnds are the pools' servers, each with its upgrade domain and
	// place in the pool, in that order: where -DatabaseOnly runs from.
	FrontEnds []TopologyMachine
	// SQLInstances are the SQL Server instances of the user stores its
	// pools use, in topology order ("" is the default instance); AlwaysOn
	// is the first one's AlwaysOnPrimaryNodeFqdn, when set.
	SQLInstances []string
	AlwaysOn     string
	// Notes are what the reviewer must know: AlwaysOn, mirroring.
	Notes []string
}

// TopologyMachine is a server of a pool.
type TopologyMachine struct {
	Fqdn          string `json:"fqdn"`
	Pool          string `json:"pool"`
	UpgradeDomain string `json:"upgrade_domain,omitempty"`
	Ordinal       int    `json:"ordinal_in_cluster,omitempty"`
}

// Topology is what a topology file gives: the servers the procedure
// applies to, and the user stores no pool uses, which it leaves out.
type Topology struct {
	Servers []TopologyServer
	Unused  []Problem
}

type topoCluster struct {
	id, fqdn string
	line     int
	machines []TopologyMachine
	// lines are the machines' lines, in their order.
	lines []int
}

// add adds a machine of the cluster, found at line.
func (c *topoCluster) add(m TopologyMachine, line int) {
	m.Pool = c.fqdn
	c.machines = append(c.machines, m)
	c.lines = append(c.lines, line)
}

type topoSQL struct {
	id, cluster, name, alwaysOn, mirror string
	line                                int
}

type topoService struct {
	id, role, version, installedOn string
	line                           int
	deps                           []string
}

// element is an XML element, with its line and its children.
type element struct {
	name     string
	attrs    map[string]string
	children []*element
	line     int
}

func (e *element) child(name string) *element {
	for _, c := range e.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// each calls f for every element below e, in document order.
func (e *element) each(f func(parent, child *element)) {
	for _, c := range e.children {
		f(e, c)
		c.each(f)
	}
}

// parseXML reads a document into elements, by local names.
// The bounds of a topology file: a real one is a few levels deep and a few
// thousand elements long.
const maxXMLDepth, maxXMLElements = 64, 200_000

func parseXML(text []byte) (*element, error) {
	dec := xml.NewDecoder(bytes.NewReader(text))
	// The text is UTF-8 already, whatever its declaration says (Windows
	// PowerShell writes encoding="utf-16" with UTF-16).
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		switch strings.ToLower(label) {
		case "utf-8", "utf-16", "utf-16le", "utf-16be", "unicode":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q: allowed: UTF-8, UTF-16", label)
	}
	root := &element{}
	stack := []*element{root}
	elements := 0
	for {
		line, _ := dec.InputPos()
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not valid XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			// A topology is a few levels deep and a few thousand elements long.
			if len(stack) > maxXMLDepth {
				return nil, fmt.Errorf("not a topology: elements nested more than %d levels deep (line %d)", maxXMLDepth, line)
			}
			if elements++; elements > maxXMLElements {
				return nil, fmt.Errorf("not a topology: more than %d elements (line %d)", maxXMLElements, line)
			}
			e := &element{name: t.Name.Local, attrs: map[string]string{}, line: line}
			for _, a := range t.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			parent := stack[len(stack)-1]
			parent.children = append(parent.children, e)
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(root.children) != 1 {
		return nil, errors.New("not a topology: no root element")
	}
	return root.children[0], nil
}

// ReadTopology reads a topology, -AsXml or .tbxml, in UTF-8 or UTF-16
// with a byte order mark, and returns every server the procedure applies
// to: each Standard Edition server, and each Back End SQL Server of
// Enterprise Edition pools (once, whatever the number of its pools), in
// the order of their user stores in the file; a user store no pool uses
// is left out, and named in Unused.
func ReadTopology(data []byte) (Topology, error) {
	text, err := utf8Text(data)
	if err != nil {
		return Topology{}, Problem{Message: err.Error()}
	}
	root, err := parseXML(text)
	if err != nil {
		return Topology{}, Problem{Message: err.Error()}
	}
	var clusters []topoCluster
	var sqls []topoSQL
	var services []topoService
	switch root.name {
	case "Topology":
		clusters, sqls, services = readAsXml(root)
	case "TopologyBuilder":
		clusters, sqls, services = readTbxml(root)
	default:
		return Topology{}, Problem{Line: root.line, Message: fmt.Sprintf("not a topology: the root element is %s, not Topology (Get-CsTopology -AsXml) or TopologyBuilder (.tbxml)", root.name)}
	}
	return derive(clusters, sqls, services)
}

// clusterKey and the keys below name AsXml objects by their references.
func clusterKey(e *element) string {
	if e == nil {
		return ""
	}
	return "cluster " + e.attrs["SiteId"] + ":" + e.attrs["Number"]
}

func sqlKey(e *element) string {
	return "sql " + e.attrs["Name"] + "@" + clusterKey(e.child("ClusterId"))
}

func serviceKey(e *element) string {
	return "service " + e.attrs["SiteId"] + ":" + e.attrs["RoleName"] + ":" + e.attrs["Instance"]
}

func readAsXml(root *element) ([]topoCluster, []topoSQL, []topoService) {
	var clusters []topoCluster
	var sqls []topoSQL
	var services []topoService
	root.each(func(parent, e *element) {
		switch {
		case e.name == "Cluster" && parent.name == "Clusters":
			c := topoCluster{id: clusterKey(e.child("ClusterId")), fqdn: e.attrs["Fqdn"], line: e.line}
			for _, m := range e.children {
				if m.name == "Machine" {
					// An OrdinalInCluster that is no number is left out (0).
					ordinal, _ := strconv.Atoi(m.attrs["OrdinalInCluster"])
					c.add(TopologyMachine{Fqdn: m.attrs["Fqdn"], UpgradeDomain: m.attrs["UpgradeDomain"], Ordinal: ordinal}, m.line)
				}
			}
			clusters = append(clusters, c)
		case e.name == "SqlInstance" && parent.name == "SqlInstances":
			id := e.child("SqlInstanceId")
			if id == nil {
				return
			}
			s := topoSQL{id: sqlKey(id), cluster: clusterKey(id.child("ClusterId")), name: id.attrs["Name"], alwaysOn: e.attrs["AlwaysOnPrimaryNodeFqdn"], line: e.line}
			s.mirror = mirrorOf(e)
			sqls = append(sqls, s)
		case e.name == "Service" && parent.name == "Services":
			s := topoService{version: e.attrs["ServiceVersion"], line: e.line}
			if id := e.child("ServiceId"); id != nil {
				s.id, s.role = serviceKey(id), id.attrs["RoleName"]
			}
			if on := e.child("InstalledOn"); on != nil {
				if c := on.child("ClusterId"); c != nil {
					s.installedOn = clusterKey(c)
				}
				if q := on.child("SqlInstanceId"); q != nil {
					s.installedOn = sqlKey(q)
				}
			}
			if deps := e.child("DependsOn"); deps != nil {
				for _, d := range deps.children {
					if id := d.child("ServiceId"); id != nil {
						s.deps = append(s.deps, serviceKey(id))
					}
				}
			}
			services = append(services, s)
		}
	})
	return clusters, sqls, services
}

func readTbxml(root *element) ([]topoCluster, []topoSQL, []topoService) {
	var clusters []topoCluster
	var sqls []topoSQL
	var services []topoService
	root.each(func(parent, e *element) {
		switch e.name {
		case "Cluster":
			c := topoCluster{id: e.attrs["UniqueId"], fqdn: e.attrs["Fqdn"], line: e.line}
			e.each(func(_, m *element) {
				switch m.name {
				case "Machine":
					c.add(TopologyMachine{Fqdn: m.attrs["Fqdn"], UpgradeDomain: m.attrs["UpgradeDomain"], Ordinal: len(c.machines) + 1}, m.line)
				case "SqlInstance":
					s := topoSQL{id: m.attrs["UniqueId"], cluster: c.id, name: m.attrs["Name"], alwaysOn: m.attrs["AlwaysOnPrimaryNodeFqdn"], line: m.line}
					s.mirror = mirrorOf(m)
					sqls = append(sqls, s)
				}
			})
			// A single-machine cluster's Machine has no Fqdn: it is the
			// cluster's (checkPools refuses a nameless one elsewhere).
			if len(c.machines) == 1 && c.machines[0].Fqdn == "" && e.attrs["IsSingleMachineOnly"] != "false" {
				c.machines[0].Fqdn = c.fqdn
			}
			clusters = append(clusters, c)
		case "Service":
			if e.attrs["UniqueId"] == "" {
				return
			}
			s := topoService{id: e.attrs["UniqueId"], role: e.attrs["RoleName"], version: e.attrs["ServiceVersion"], installedOn: e.attrs["InstalledOn"], line: e.line}
			e.each(func(_, d *element) {
				if d.name == "Dependency" && d.attrs["ServiceUniqueId"] != "" {
					s.deps = append(s.deps, d.attrs["ServiceUniqueId"])
				}
			})
			services = append(services, s)
		}
	})
	return clusters, sqls, services
}

// mirrorOf is the mirror a SqlInstance records, if any: an attribute or a
// child element whose name holds Mirror.
func mirrorOf(e *element) string {
	for name, value := range e.attrs {
		if strings.Contains(name, "Mirror") && value != "" {
			return value
		}
	}
	for _, c := range e.children {
		if strings.Contains(c.name, "Mirror") {
			return "recorded"
		}
	}
	return ""
}

// serviceProducts maps a ServiceVersion to the product (7 and 8 from the
// public samples; 6 for Lync Server 2013 by inference).
var serviceProducts = map[string]string{"6": "lync2013", "7": "sfb2015", "8": "sfb2019"}

// derive finds the servers: for each user store, the pools whose user
// services use it, and its SQL Server.
func derive(clusters []topoCluster, sqls []topoSQL, services []topoService) (Topology, error) {
	// Every problem of the references at once; the servers only from a
	// topology without one.
	var ps Problems
	clusterByID := index("Cluster", clusters, func(c topoCluster) (string, int) { return c.id, c.line }, &ps)
	sqlByID := index("SqlInstance", sqls, func(s topoSQL) (string, int) { return s.id, s.line }, &ps)
	serviceByID := index("Service", services, func(s topoService) (string, int) { return s.id, s.line }, &ps)
	checkReferences(sqls, services, clusterByID, sqlByID, serviceByID, &ps)
	checkPools(services, clusterByID, serviceByID, &ps)
	if len(ps) > 0 {
		slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
		return Topology{}, ps
	}
	var t Topology
	byBackEnd := map[string]int{}
	for _, store := range services {
		if store.role != "UserStore" {
			continue
		}
		sql, ok := sqlByID[store.installedOn]
		if !ok {
			return Topology{}, Problem{Line: store.line, Message: fmt.Sprintf("UserStore is InstalledOn %s, not a SqlInstance of the topology", store.installedOn)}
		}
		host := clusterByID[sql.cluster]
		if err := checkTopologyName(host); err != nil {
			return Topology{}, err
		}
		product, ok := serviceProducts[store.version]
		if !ok {
			return Topology{}, Problem{Line: store.line, Message: fmt.Sprintf("ServiceVersion %q of the UserStore is no product sfbpatch knows; allowed: 6 (Lync Server 2013), 7 (Skype for Business Server 2015), 8 (Skype for Business Server 2019)", store.version)}
		}
		pools, err := poolsOf(store, services, clusterByID)
		if err != nil {
			return Topology{}, err
		}
		if len(pools) == 0 {
			t.Unused = append(t.Unused, Problem{Line: store.line, Message: fmt.Sprintf("no pool's UserServices uses the UserStore on %s: left out", strings.TrimSuffix(host.fqdn+`\`+sql.name, `\`))})
			continue
		}
		key := strings.ToLower(host.fqdn)
		i, seen := byBackEnd[key]
		if !seen {
			ownServer := len(pools) == 1 && pools[0].id == host.id
			i = len(t.Servers)
			byBackEnd[key] = i
			t.Servers = append(t.Servers, newServer(product, host, sql, ownServer, collocated(host.id, sqls, services)))
		}
		server := &t.Servers[i]
		if !slices.Contains(server.SQLInstances, sql.name) {
			server.SQLInstances = append(server.SQLInstances, sql.name)
		}
		if server.Facts.Product != product {
			return Topology{}, Problem{Line: store.line, Message: fmt.Sprintf("the SQL Server %s holds user stores of two products (%s and %s)", host.fqdn, server.Facts.Product, product)}
		}
		for _, pool := range pools {
			if !slices.Contains(server.Pools, pool.fqdn) {
				server.Pools = append(server.Pools, pool.fqdn)
				server.FrontEnds = append(server.FrontEnds, pool.machines...)
			}
		}
	}
	if len(t.Servers) == 0 {
		return Topology{}, Problem{Message: "no UserStore that a pool uses: the topology holds no server this procedure applies to"}
	}
	return t, nil
}

// newServer is the server of a user store in sql, on host: Standard
// Edition when the store is in the RTC instance of its only pool's own
// server, otherwise an Enterprise Edition Back End, with its notes.
func newServer(product string, host topoCluster, sql topoSQL, ownServer, collocatedStores bool) TopologyServer {
	server := TopologyServer{SQLInstances: []string{sql.name}, AlwaysOn: sql.alwaysOn}
	if ownServer && strings.EqualFold(sql.name, "rtc") {
		server.Facts = Facts{Product: product, Edition: EditionStandard, ServerFQDN: host.fqdn}
		return server
	}
	server.Facts = Facts{Product: product, Edition: EditionEnterprise, ServerFQDN: host.fqdn, SQLServerFQDN: host.fqdn, CollocatedStores: collocatedStores}
	if ownServer {
		server.Notes = append(server.Notes, "the pool's user store is on its own server, in SQL instance "+instanceName(sql.name)+", where a Standard Edition server has RTC: taken as an Enterprise Edition Back End, whose script refuses a whole run on a Front End; for a Standard Edition server, generate with --edition standard")
	}
	if sql.alwaysOn != "" {
		server.Notes = append(server.Notes, "AlwaysOn: "+host.fqdn+" is the availability group listener, which -SqlServerFqdn must name; publish the topology again after the update")
	}
	if sql.mirror != "" {
		server.Notes = append(server.Notes, "mirrored: Install-CsDatabase -Update cannot update mirrored databases; remove the mirror first (the script's preflight checks it again)")
	}
	return server
}

// index maps objects by their ID, refusing an ID given twice: the
// references to it would be ambiguous. An object without an ID cannot be
// referred to, and is left out.
func index[T any](kind string, objects []T, key func(T) (string, int), ps *Problems) map[string]T {
	byID := map[string]T{}
	lines := map[string]int{}
	for _, o := range objects {
		id, line := key(o)
		if id == "" {
			continue
		}
		if first, seen := lines[id]; seen {
			*ps = append(*ps, Problem{Line: line, Message: fmt.Sprintf("two %s elements have the ID %q (lines %d and %d)", kind, id, first, line)})
			continue
		}
		byID[id], lines[id] = o, line
	}
	return byID
}

// checkReferences refuses a SQL instance on, or a service installed on or
// depending on, what the topology does not define.
func checkReferences(sqls []topoSQL, services []topoService, clusterByID map[string]topoCluster, sqlByID map[string]topoSQL, serviceByID map[string]topoService, ps *Problems) {
	for _, s := range sqls {
		if _, ok := clusterByID[s.cluster]; !ok {
			*ps = append(*ps, Problem{Line: s.line, Message: fmt.Sprintf("SqlInstance %q is on %s, which the topology does not define", s.name, s.cluster)})
		}
	}
	for _, s := range services {
		_, onCluster := clusterByID[s.installedOn]
		_, onSQL := sqlByID[s.installedOn]
		if s.installedOn != "" && !onCluster && !onSQL {
			*ps = append(*ps, Problem{Line: s.line, Message: fmt.Sprintf("Service %s is InstalledOn %s, which the topology does not define", s.role, s.installedOn)})
		}
		for _, d := range s.deps {
			if _, ok := serviceByID[d]; !ok {
				*ps = append(*ps, Problem{Line: s.line, Message: fmt.Sprintf("Service %s depends on %s, which the topology does not define", s.role, d)})
			}
		}
	}
}

// checkPools refuses a pool the procedure cannot place: user services on
// no cluster, or depending on no user store or on two; a pool without
// machines, or whose name or a machine's is no FQDN; a machine in two
// places.
func checkPools(services []topoService, clusterByID map[string]topoCluster, serviceByID map[string]topoService, ps *Problems) {
	machineLine := map[string]int{}
	for _, user := range services {
		if user.role != "UserServices" {
			continue
		}
		pool, ok := clusterByID[user.installedOn]
		if !ok {
			*ps = append(*ps, Problem{Line: user.line, Message: fmt.Sprintf("UserServices is InstalledOn %q, not a Cluster of the topology", user.installedOn)})
			continue
		}
		stores := 0
		for _, d := range user.deps {
			if serviceByID[d].role == "UserStore" {
				stores++
			}
		}
		if stores != 1 {
			*ps = append(*ps, Problem{Line: user.line, Message: fmt.Sprintf("the UserServices of pool %s depend on %d UserStores; a pool keeps its users in one", pool.fqdn, stores)})
		}
		if err := checkTopologyName(pool); err != nil {
			*ps = append(*ps, err.(Problem))
		}
		if len(pool.machines) == 0 {
			*ps = append(*ps, Problem{Line: pool.line, Message: fmt.Sprintf("pool %s has no Machine", pool.fqdn)})
		}
		for i, m := range pool.machines {
			if strings.TrimSpace(m.Fqdn) == "" {
				*ps = append(*ps, Problem{Line: pool.lines[i], Message: fmt.Sprintf("a Machine of pool %s has no Fqdn (only a single-machine cluster's may leave it out)", pool.fqdn)})
				continue
			}
			if msg := checkFQDN(m.Fqdn); msg != "" {
				*ps = append(*ps, Problem{Line: pool.lines[i], Message: fmt.Sprintf("Machine Fqdn %q of pool %s: %s", m.Fqdn, pool.fqdn, msg)})
				continue
			}
			key := strings.ToLower(m.Fqdn)
			if first, seen := machineLine[key]; seen {
				*ps = append(*ps, Problem{Line: pool.lines[i], Message: fmt.Sprintf("Machine %s is listed twice (line %d first)", m.Fqdn, first)})
			}
			machineLine[key] = pool.lines[i]
		}
	}
}

// poolsOf is the pools whose user services use the store (checkPools has
// checked them), refusing one whose product is not the store's.
func poolsOf(store topoService, services []topoService, clusterByID map[string]topoCluster) ([]topoCluster, error) {
	var pools []topoCluster
	for _, user := range services {
		if user.role != "UserServices" || !slices.Contains(user.deps, store.id) {
			continue
		}
		pool := clusterByID[user.installedOn]
		if user.version != store.version {
			return nil, Problem{Line: user.line, Message: fmt.Sprintf("the UserServices of pool %s are ServiceVersion %q, their UserStore (line %d) %q: a pool and its store are one product", pool.fqdn, user.version, store.line, store.version)}
		}
		pools = append(pools, pool)
	}
	return pools, nil
}

// instanceName names a SQL Server instance, "" being the default one.
func instanceName(name string) string {
	if name == "" {
		return "(default)"
	}
	return name
}

// collocated tells whether an Archiving or Monitoring store is installed on
// a SQL instance of the cluster: the same SQL Server, whatever the instance.
func collocated(cluster string, sqls []topoSQL, services []topoService) bool {
	for _, s := range services {
		if s.role != "ArchivingStore" && s.role != "MonitoringStore" {
			continue
		}
		for _, sql := range sqls {
			if sql.id == s.installedOn && sql.cluster == cluster {
				return true
			}
		}
	}
	return false
}

// checkTopologyName refuses a cluster name that is no FQDN, naming an
// unsubstituted template placeholder as such.
func checkTopologyName(c topoCluster) error {
	if strings.Contains(c.fqdn, "$") {
		return Problem{Line: c.line, Message: fmt.Sprintf("Cluster Fqdn %q is a template placeholder that was never substituted", c.fqdn)}
	}
	if msg := checkFQDN(c.fqdn); msg != "" {
		return Problem{Line: c.line, Message: "Cluster Fqdn: " + msg}
	}
	return nil
}
