package generator

import "sort"

// Product is what sfbpatch knows about one server product: the names the
// script needs to find its module, its installer and its installed version.
// Sources: DOMAIN.md sections 1 to 3.
type Product struct {
	// Key is the value of --product and of the facts file's "product".
	Key string `json:"key"`
	// Name is the product's full name, as administrators read it.
	Name string `json:"name"`
	// Module is the PowerShell module the Management Shell imports.
	Module string `json:"module"`
	// ShellName is the Management Shell's name in the Start menu (doc steps 3 and 8).
	ShellName string `json:"shell_name"`
	// Installer is the cumulative update installer's file name.
	// SfB 2015 and 2019 share it, so it never tells the product apart.
	Installer string `json:"installer"`
	// SilentSwitch runs the installer unattended.
	SilentSwitch string `json:"silent_switch"`
	// CoreComponents is the DisplayName of the product's Core Components
	// in the Uninstall registry keys and the ComponentName prefix returned
	// by Get-CsServerPatchVersion: its version is the installed CU level.
	CoreComponents string `json:"core_components"`
	// HasPatchVersionCmdlet is true when Get-CsServerPatchVersion exists
	// (not on Lync Server 2013; on SfB 2015 only from the November 2015 CU,
	// so the script still checks for it at run time).
	HasPatchVersionCmdlet bool `json:"has_patch_version_cmdlet"`
	// SupportsMirroring is true for the products that support SQL Server
	// mirroring of their databases, where Get-CsDatabaseMirrorState reads
	// its state (Lync Server 2013 and SfB 2015; SfB 2019 dropped it).
	SupportsMirroring bool `json:"supports_mirroring"`
	// FrontEndProcedure says how a pool's Front End Servers are patched,
	// by Microsoft's Front End procedure (DOMAIN.md section 11), in words.
	FrontEndProcedure string `json:"front_end_procedure"`
	// FailOver is true for the products whose Front End procedure fails
	// the server over and back (Skype for Business Server); Lync Server
	// 2013's stops its services gracefully, by upgrade domain.
	FailOver bool `json:"fail_over"`
	// NoTwoServerPools is true for Skype for Business Server 2019, which
	// does not support Enterprise Edition pools of two Front End Servers
	// (Manage Front End Servers in Skype for Business Server).
	NoTwoServerPools bool `json:"no_two_server_pools"`
	// ReadinessCommand reads a pool's upgrade state on one of its Front
	// End Servers (DOMAIN.md section 11; its reference pages).
	ReadinessCommand string `json:"readiness_command"`
	// PatchLevelCheck reads the installed update level on a server,
	// read-only.
	PatchLevelCheck string `json:"patch_level_check"`
	// ReleaseVersion is the Core Components version of the release, whose
	// first three numbers every update of the product keeps (DOMAIN.md
	// section 2).
	ReleaseVersion string `json:"release_version"`
}

// sfbFrontEndProcedure is Skype for Business Server's Front End procedure.
const sfbFrontEndProcedure = "one server at a time: Get-CsPoolFabricState (no missing replica), Invoke-CsComputerFailOver, the update, Invoke-CsComputerFailBack, " +
	"the next server once this one serves again"

var products = map[string]Product{
	"lync2013": {
		Key:               "lync2013",
		Name:              "Lync Server 2013",
		Module:            "Lync",
		ShellName:         "Lync Server Management Shell",
		Installer:         "LyncServerUpdateInstaller.exe",
		SilentSwitch:      "/silentmode",
		CoreComponents:    "Microsoft Lync Server 2013, Core Components",
		SupportsMirroring: true,
		ReleaseVersion:    "5.0.8308.0",
		ReadinessCommand:  "Get-CsPoolUpgradeReadinessState",
		FrontEndProcedure: "by upgrade domain: Get-CsPoolUpgradeReadinessState until the pool is Ready and the server's upgrade domain ready for upgrade, then Stop-CsWindowsService -Graceful, the update and the services started again, the next once the pool has been Ready for 20 minutes",
		PatchLevelCheck:   `Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\*' | Where-Object { $_.DisplayName -like '*Core Components*' } | Select-Object DisplayName, DisplayVersion`,
	},
	"sfb2015": {
		Key:                   "sfb2015",
		Name:                  "Skype for Business Server 2015",
		Module:                "SkypeForBusiness",
		ShellName:             "Skype for Business Server Management Shell",
		Installer:             "SkypeServerUpdateInstaller.exe",
		SilentSwitch:          "/silentmode",
		CoreComponents:        "Skype for Business Server 2015, Core Components",
		HasPatchVersionCmdlet: true,
		SupportsMirroring:     true,
		ReleaseVersion:        "6.0.9319.0",
		FailOver:              true,
		ReadinessCommand:      "Get-CsPoolUpgradeReadinessState",
		FrontEndProcedure:     sfbFrontEndProcedure,
		PatchLevelCheck:       "Get-CsServerPatchVersion",
	},
	"sfb2019": {
		Key:                   "sfb2019",
		Name:                  "Skype for Business Server 2019",
		Module:                "SkypeForBusiness",
		ShellName:             "Skype for Business Server Management Shell",
		Installer:             "SkypeServerUpdateInstaller.exe",
		SilentSwitch:          "/silentmode",
		CoreComponents:        "Skype for Business Server 2019, Core Components",
		HasPatchVersionCmdlet: true,
		ReleaseVersion:        "7.0.2046.0",
		FailOver:              true,
		ReadinessCommand:      "Get-CsUpgradeDomainInfo",
		NoTwoServerPools:      true,
		FrontEndProcedure:     sfbFrontEndProcedure,
		PatchLevelCheck:       "Get-CsServerPatchVersion",
	},
}

// ProductKeys lists the accepted --product values, sorted.
func ProductKeys() []string {
	keys := make([]string, 0, len(products))
	for k := range products {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// LookupProduct returns the product for a --product value.
func LookupProduct(key string) (Product, bool) {
	p, ok := products[key]
	return p, ok
}
