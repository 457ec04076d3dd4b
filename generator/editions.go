package generator

import "fmt"

// Edition is what sfbpatch knows about a server edition: the role it
// patches, how doc step 11 updates and checks its databases, and what the
// downtime means for users. Adding an edition is one entry here, the
// checks it needs in steps.go, and its golden files.
type Edition struct {
	// Key is the value of --edition and of the facts file's "edition".
	Key string
	// Role names the server, e.g. "Standard Edition server"; RoleSentence
	// says it as a sentence.
	Role, RoleSentence string
	// Enterprise is true for an edition whose databases are on a SQL
	// Server of their own, named by --sql-server-fqdn: it takes the SQL
	// Server and collocated stores facts, which other editions refuse.
	Enterprise bool
	// Step11 are doc step 11's variants: [0] without collocated stores,
	// [1] with them (an Enterprise edition only).
	Step11 [2]Step11
	// WarnMessage and BudgetMessage are the downtime warnings, with %[1]d
	// for the warning's minutes and %[2]d for the budget's.
	WarnMessage, BudgetMessage string
}

// Step11 is one variant of doc step 11: the documented command, why it is
// this one, and the database test that checks what the command updates.
type Step11 struct {
	Command  string
	Why      string
	Database Database
}

var editions = []Edition{
	{
		Key: EditionStandard, Role: "Standard Edition server", RoleSentence: "A Standard Edition server.",
		Step11: [2]Step11{{
			Command: "Install-CsDatabase -Update -LocalDatabases",
			Why:     "A Standard Edition server updates its local databases.",
			// Test-CsDatabase has no -LocalDatabases: -LocalService covers every
			// database a Standard Edition server uses, remote ones included, so
			// its rows are narrowed to this server's own SQL instance.
			Database: Database{TestCommand: "Test-CsDatabase -LocalService", Server: "HostFqdn",
				Scope:        "the databases on this server's own SQL Server instance",
				OthersRemedy: "it is on another server, whose own procedure updates it."},
		}},
		WarnMessage:   "Downtime has reached %[1]d minutes: %[3]d minutes of the %[2]d-minute budget remain. Users homed on this Standard Edition server have been without service since the services stopped.",
		BudgetMessage: "Downtime has reached %[2]d minutes: users homed on this Standard Edition server have been without service since the services stopped; they return when the services run again.",
	},
	{
		Key: EditionEnterprise, Role: "Enterprise Edition Back End Server", RoleSentence: "An Enterprise Edition Back End Server.", Enterprise: true,
		Step11: [2]Step11{
			{
				Command: "Install-CsDatabase -Update -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn",
				Why:     "An Enterprise Edition Back End without collocated Archiving or Monitoring databases.",
				Database: Database{TestCommand: "Test-CsDatabase -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn",
					Server: "SqlServerFqdn", Scope: "the databases on $SqlServerFqdn",
					OthersRemedy: "it is on another SQL Server, which the procedure of the pools that use it updates."},
			},
			{
				Command: "Install-CsDatabase -Update -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn -ExcludeCollocatedStores",
				Why:     "An Enterprise Edition Back End with Archiving or Monitoring databases on the same SQL Server: -ExcludeCollocatedStores.",
				Database: Database{TestCommand: "Test-CsDatabase -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn",
					Server: "SqlServerFqdn", Excluded: collocatedStores,
					Scope: "the databases on $SqlServerFqdn except the collocated Archiving and Monitoring databases LcsLog, LcsCDR and QoEMetrics",
					OthersRemedy: "if it is a collocated Archiving (LcsLog) or Monitoring (LcsCDR, QoEMetrics) database, which this script takes -ExcludeCollocatedStores to leave alone (the reference does not say which databases it leaves), " +
						"Microsoft's procedure names no command for it: check it with Test-CsDatabase -ConfiguredDatabases -SqlServerFqdn $SqlServerFqdn -Verbose and follow the update's own instructions " +
						"(the reference advises against Install-CsDatabase -DatabaseType unless Microsoft support asks for it); a database on another SQL Server is updated by the procedure of the pools that use it."},
			},
		},
		WarnMessage:   "Downtime has reached %[1]d minutes: %[3]d minutes remain before users of the pool may go into resiliency mode.",
		BudgetMessage: "Downtime has reached %[2]d minutes: users of the pool may now be in resiliency mode. They return to full functionality when the Back End is back and the Front End Servers reconnect to it.",
	},
}

// collocatedStores are the databases of the Archiving (LcsLog) and
// Monitoring (LcsCDR, QoEMetrics) stores, which -ExcludeCollocatedStores
// leaves out (DOMAIN.md section 10).
var collocatedStores = []string{"LcsLog", "LcsCDR", "QoEMetrics"}

// LookupEdition returns the edition for an --edition value.
func LookupEdition(key string) (Edition, bool) {
	for _, e := range editions {
		if e.Key == key {
			return e, true
		}
	}
	return Edition{}, false
}

// EditionKeys lists the accepted --edition values, in table order.
func EditionKeys() []string {
	keys := make([]string, len(editions))
	for i, e := range editions {
		keys[i] = e.Key
	}
	return keys
}

// step11 is the edition's doc step 11 for the facts.
func (e Edition) step11(f Facts) Step11 {
	if e.Enterprise && f.CollocatedStores {
		return e.Step11[1]
	}
	return e.Step11[0]
}

// The downtime clock's thresholds: the doc warns that a Back End down for
// 30 minutes or more sends users into resiliency mode.
const warnMinutes, budgetMinutes = 25, 30

// downtime is the clock's thresholds and the edition's messages.
func (e Edition) downtime() Downtime {
	const warn, budget = warnMinutes, budgetMinutes
	return Downtime{
		WarnMinutes:   warn,
		BudgetMinutes: budget,
		WarnMessage:   fmt.Sprintf(e.WarnMessage, warn, budget, budget-warn),
		BudgetMessage: fmt.Sprintf(e.BudgetMessage, warn, budget, budget-warn),
	}
}
