package generator

// Plan is the one description of what a script does, computed in Go from
// validated facts. Every renderer (script, runbook, JSON) reads it; none
// takes a decision of its own.
type Plan struct {
	Facts Facts `json:"facts"`
	// FactTable describes each fact for the script header and the runbook.
	FactTable []FactRow `json:"fact_table"`
	Product   Product   `json:"product"`
	// Enterprise is true for an Enterprise Edition Back End, which names
	// its SQL Server.
	Enterprise bool `json:"enterprise"`
	// FrontEnd is true for a Front End Server of an Enterprise Edition
	// pool, patched by its pool's procedure.
	FrontEnd bool `json:"front_end"`
	// Procedure names Microsoft's procedure the script carries out.
	Procedure string `json:"procedure"`
	// Role names the server being patched, e.g. "Standard Edition server".
	Role string `json:"role"`
	// Installer is how the update installer is found and run.
	Installer Installer `json:"installer"`
	// Preflight checks run before the first service stops.
	Preflight []Check `json:"preflight"`
	// Steps are the documented steps in doc order, then the steps beyond the doc.
	Steps []Step `json:"steps"`
	// Database is how the script tells whether the databases of step 11
	// are current, and which of them step 11 updates.
	Database Database `json:"database"`
	// Children are the fresh Windows PowerShell processes that import the
	// product's module, in the order the script starts them: the only
	// places the product's cmdlets run.
	Children []Child `json:"children"`
	// Window lists the operations between the first service stop and the
	// final service start of a run that installs the update, in order.
	Window []WindowOp `json:"window"`
	// Downtime is the window between the first stopped service and the
	// services running again.
	Downtime Downtime `json:"downtime"`
	// Parameters are the script's own parameters.
	Parameters []Parameter `json:"parameters"`
	// ExitCodes are the script's exit codes.
	ExitCodes []ExitCode `json:"exit_codes"`
	// Manifest lists every state-changing operation of the script, by
	// run mode.
	Manifest []ManifestEntry `json:"manifest"`
	// Run says where and how the script runs on the night.
	Run Run `json:"run"`
	// Recovery is the task that restores the services if a run ends
	// without doing so.
	Recovery Recovery `json:"recovery"`
	// Resume says, for each outcome an earlier run can leave, what a new
	// run does and whether it stops the services.
	Resume []ResumeCase `json:"resume"`
	// Warnings say what the facts leave unprovable at run time; absent
	// when empty.
	Warnings []string `json:"warnings,omitempty"`
	// Variables are the script-level variables that carry the facts: each
	// fact reaches the script once, as one quoted literal.
	Variables []Variable `json:"variables"`
}

// FactRow is one fact as a reviewer reads it: Value is the fact as given
// ("" when it was not), Meaning what it means for this server.
type FactRow struct {
	Key     string `json:"key"`
	Label   string `json:"label"`
	Value   string `json:"value"`
	Meaning string `json:"meaning"`
}

// Database holds the read-only database test of step 11 and of the
// preflight mirroring check, and the rows of it that step 11 owns: the
// check looks only at the databases its command updates.
type Database struct {
	TestCommand string `json:"test_command"`
	// Server names the script variable holding the SQL Server whose
	// databases step 11 updates: a row owned by step 11 is on it.
	Server string `json:"server"`
	// Excluded lists the databases on that server that step 11 leaves
	// alone (-ExcludeCollocatedStores); absent when empty.
	Excluded []string `json:"excluded_databases,omitempty"`
	// Scope says in words which rows step 11 owns.
	Scope string `json:"scope"`
	// MirrorStateCommand reads the mirror state of the databases of the
	// pool $Pool, where the product supports mirroring on an Enterprise
	// Edition Back End; absent when empty.
	MirrorStateCommand string `json:"mirror_state_command,omitempty"`
	// OthersRemedy says how the databases step 11 does not update are
	// updated, for the warning about one that is not current.
	OthersRemedy string `json:"others_remedy"`
}

// Child is one start of a fresh Windows PowerShell that runs the script
// itself (powershell.exe -File) with the internal -Phase, and imports the
// product's module: the only places the product's cmdlets run.
type Child struct {
	// Phase is the value of the script's -Phase in that child.
	Phase string `json:"phase"`
	// InWindow is true when the child runs between the first service stop
	// and the final start.
	InWindow bool `json:"in_window"`
	// Reads is true for the child that only reads the server's state,
	// before the window; the others run steps.
	Reads   bool   `json:"reads"`
	Purpose string `json:"purpose"`
}

// WindowOp is one operation of the downtime window.
type WindowOp struct {
	// Number is the operation's place in the window, from 1.
	Number  int    `json:"number"`
	Kind    string `json:"kind"`
	DocStep int    `json:"doc_step"`
	// Where is "script" (the script's own process) or the Phase of the
	// child that runs it.
	Where   string `json:"where"`
	Command string `json:"command"`
}

// Kinds of window operations (and of a step's action).
const (
	KindChildShell   = "child_shell"   // a fresh Windows PowerShell imports the module
	KindChildCommand = "child_command" // a product cmdlet, in a child
	KindNative       = "native"        // a native command such as net
	KindInstaller    = "installer"     // the cumulative update installer
	KindDatabaseScan = "database_scan" // Test-CsDatabase
	KindCheck        = "check"         // a local check, no change
	KindPrompt       = "prompt"        // a confirmation prompt
	KindHash         = "hash"          // hashing the installer
	KindVersionRead  = "version_read"  // reading the installed version
)

// Installer describes the cumulative update installer.
type Installer struct {
	// DefaultFileName is used beside the script when UpdatePath is empty.
	DefaultFileName string `json:"default_file_name"`
	// UpdatePath is the fact, or empty for the default.
	UpdatePath string `json:"update_path,omitempty"`
	// Arguments are passed to the installer, in order.
	Arguments []string `json:"arguments"`
	// SHA256 is the expected digest in lower case, or empty.
	SHA256 string `json:"sha256,omitempty"`
}

// Check is one preflight check. Test is a PowerShell expression that
// returns nothing when the check passes and a description of the problem
// when it fails.
type Check struct {
	ID string `json:"id"`
	// DocStep is the step of Microsoft's procedure the check belongs to;
	// 0 for a check beyond the doc.
	DocStep int    `json:"doc_step"`
	Title   string `json:"title"`
	Test    string `json:"test"`
	Remedy  string `json:"remedy"`
	// Override is the script switch that turns a failure into a warning.
	Override string `json:"override,omitempty"`
	// DatabaseOnly is true when the check also runs with -DatabaseOnly.
	DatabaseOnly bool `json:"database_only"`
	// OnlyDatabaseOnly is true when the check runs only with -DatabaseOnly.
	OnlyDatabaseOnly bool `json:"only_database_only"`
	// ReadsServer is true when the check judges what the read child
	// reported: it is not run when that child failed.
	ReadsServer bool `json:"reads_server"`
}

// Step is one unit of the procedure: a test of the desired state, the
// commands that reach it, and a verification afterwards.
type Step struct {
	ID string `json:"id"`
	// Number is the step's place in the script, from 1: the runbook's
	// "Step N".
	Number int `json:"number"`
	// DocStep is the step number in Microsoft's procedure; 0 for a step
	// beyond the doc.
	DocStep int `json:"doc_step"`
	// Label is how the script and the runbook name the step's place in
	// the procedure: "Doc step 4" or "Beyond the doc".
	Label string `json:"label"`
	Title string `json:"title"`
	// Stage is where the step belongs: the downtime, the database update
	// or the restart (a Stage* constant).
	Stage string `json:"stage"`
	// Why says what the step is for, in one or two sentences.
	Why string `json:"why"`
	// Test describes and implements the desired-state test: when it
	// returns $true, the step is already done.
	Test Probe `json:"test"`
	// Commands are the exact commands of the step, as a reviewer reads
	// them and as the script runs them.
	Commands []string `json:"commands"`
	// ManagementShell is true when the step runs in a fresh child
	// Windows PowerShell that imports the product's module (doc steps 3
	// and 8): the child whose -Phase is Shell. Shell is empty for a step
	// of the script's own process.
	ManagementShell bool   `json:"management_shell"`
	Shell           string `json:"shell,omitempty"`
	// Kind is what the step's action is: a Kind* constant.
	Kind string `json:"kind"`
	// Verify describes and implements the check after the commands.
	Verify Probe `json:"verify"`
	// VerifiedAfterWindow is true when the verification runs after the
	// services are started again, outside the downtime window.
	VerifiedAfterWindow bool `json:"verified_after_window"`
	// StartsDowntime is true for steps that stop a service: the downtime
	// clock starts with the first of them that acts.
	StartsDowntime bool `json:"starts_downtime"`
	// EndsDowntime is true for the step after which the server is back
	// in service.
	EndsDowntime bool `json:"ends_downtime"`
	// DatabaseStep is true for the one step -DatabaseOnly runs.
	DatabaseStep bool `json:"database_step"`
	// Override is the script switch that lets a step without commands go
	// on, with a warning, when its test fails.
	Override string `json:"override,omitempty"`
	// NotNeededWhen names the script variable that, when true at the start
	// of the run, makes the step unnecessary: a run that stopped after the
	// installer resumes after it. NotNeededReason says it in words.
	NotNeededWhen   string `json:"not_needed_when,omitempty"`
	NotNeededReason string `json:"not_needed_reason,omitempty"`
	// SkipSwitch is the script switch that skips the step, if any.
	SkipSwitch string `json:"skip_switch,omitempty"`
	// OnFailure says what happens and what to do when the step fails.
	OnFailure string `json:"on_failure"`
	// Evidence is what marks the step done, for this run and for a
	// later one.
	Evidence string `json:"evidence"`
}

// Probe is a PowerShell expression that returns $true when the state it
// describes holds, with the sentence that explains it.
type Probe struct {
	Description string `json:"description"`
	Expression  string `json:"expression"`
}

// Stage values.
const (
	StageDowntime = "downtime"
	StageDatabase = "database"
	StageRestart  = "restart"
)

// Downtime holds the thresholds of the downtime clock, in minutes.
type Downtime struct {
	WarnMinutes   int    `json:"warn_minutes"`
	BudgetMinutes int    `json:"budget_minutes"`
	WarnMessage   string `json:"warn_message"`
	BudgetMessage string `json:"budget_message"`
}

// Parameter is one parameter of the generated script. Default is the
// PowerShell expression of its default value (absent when none). Set is
// its parameter set: ParameterSetRun for the operator's parameters,
// ParameterSetPhase for the internal ones a child is started with.
// Choices are the only values it accepts, when it has such a list.
type Parameter struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Default string   `json:"default,omitempty"`
	Set     string   `json:"set"`
	Choices []string `json:"choices,omitempty"`
	// Range is the lowest and highest value of an int parameter.
	Range []int `json:"range,omitempty"`
	// Mandatory is true for a parameter its set cannot do without.
	Mandatory bool   `json:"mandatory"`
	Help      string `json:"help"`
}

// The script's parameter sets.
const (
	ParameterSetRun   = "Run"
	ParameterSetPhase = "Phase"
)

// Recovery is the one-shot task of SYSTEM that an unattended run (or one
// with -RecoveryTask) registers before its first stop.
type Recovery struct {
	// Phase is the -Phase the task starts the script's copy with.
	Phase    string `json:"phase"`
	TaskName string `json:"task_name"`
	// LockName is the machine-wide mutex a run holds, and the task too.
	LockName string `json:"lock_name"`
	Account  string `json:"account"`
	EventID  int    `json:"event_id"`
	// Copy is where the task's copy of the script lives.
	Copy        string `json:"copy"`
	Trigger     string `json:"trigger"`
	Restores    string `json:"restores"`
	Description string `json:"description"`
}

// Run is how the script is run: on which machine, in which mode, with
// which command lines. ScriptFile is the name batch gives it.
type Run struct {
	ScriptFile string `json:"script_file"`
	// DatabaseOnly is true when the script runs with -DatabaseOnly, from a
	// Front End Server: an Enterprise Edition Back End's.
	DatabaseOnly bool   `json:"database_only"`
	Where        string `json:"where"`
	Account      string `json:"account"`
	Interactive  string `json:"interactive"`
	Unattended   string `json:"unattended"`
	Schtasks     string `json:"schtasks"`
	// Evidence says what proves, with -DatabaseOnly, that the machine it
	// runs on is updated.
	Evidence string `json:"evidence,omitempty"`
}

// ResumeCase is one outcome an earlier run can leave: whether the
// installer's success is recorded, whether Install-CsDatabase's is, and
// whether the services it stopped run again. Runs are the IDs of the steps
// a new run carries out; StopsServices is true when one of them stops a
// service.
type ResumeCase struct {
	InstallerDone bool     `json:"installer_done"`
	DatabasesDone bool     `json:"databases_done"`
	ServicesBack  bool     `json:"services_back"`
	Runs          []string `json:"runs"`
	StopsServices bool     `json:"stops_services"`
	Why           string   `json:"why"`
}

// ExitCode is one exit code of the generated script. Name is how the
// script template refers to it.
type ExitCode struct {
	Code    int    `json:"code"`
	Name    string `json:"name"`
	Meaning string `json:"meaning"`
}

// Variable is a script-level variable set from a fact. Value is the fact;
// Set is false when the fact was not given (the variable is $null).
type Variable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Set   bool   `json:"set"`
	Help  string `json:"help"`
}

// WindowCount counts the operations of a kind in the downtime window.
func (p Plan) WindowCount(kind string) int {
	n := 0
	for _, op := range p.Window {
		if op.Kind == kind {
			n++
		}
	}
	return n
}
