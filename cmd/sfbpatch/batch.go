package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/sfbpatch/sfbpatch/generator"
)

// batchCmd generates every server's files from an inventory.
type batchCmd struct {
	Inventory string   `xor:"source" help:"The servers (this, or --topology): a CSV file with a header row of facts file field names (server_fqdn and edition required), or a JSON array of facts objects; UTF-8, or UTF-16 with a byte order mark as Excel and Export-Csv write." placeholder:"FILE"`
	Topology  string   `xor:"source" help:"A topology (Get-CsTopology -AsXml or .tbxml) instead of an inventory: every server sfbpatch topology lists." placeholder:"FILE"`
	OutDir    string   `name:"out-dir" required:"" help:"Folder to write the files to: one per server and format, named <server_fqdn>.<format>, plus SHA256SUMS and window.md. It must not exist or be empty, unless --force." placeholder:"DIR"`
	Format    []string `default:"ps1" sep:"," help:"What to write for each server: one or more of ps1, md, json, separated by commas. Default: ps1." placeholder:"FORMATS"`
	Force     bool     `help:"Write into a folder that holds files already: the files of this batch replace those of the same names, and no other file is touched (verify then names each other file as no part of the batch)."`
	// The fleet-wide facts: each row that lacks one takes it.
	Product       *string `help:"The product of every server whose row or topology names none: lync2013, sfb2015 or sfb2019 (default sfb2015). A row's own value wins, with a note." placeholder:"PRODUCT"`
	UpdatePath    *string `help:"The installer's path for every server whose row names none (see generate --update-path). A row's own value wins, with a note." placeholder:"PATH"`
	UpdateSHA256  *string `name:"update-sha256" help:"The installer's SHA-256 for every server whose row names none. A row's own value wins, with a note." placeholder:"HEX"`
	TargetVersion *string `help:"The Core Components version the update brings, for every server whose row names none: an Enterprise Edition Back End's -DatabaseOnly needs it to prove its Front End is updated. A row's own value wins, with a note." placeholder:"VERSION"`
}

// defaults are the fleet-wide facts of the flags, checked as any row's.
func (b *batchCmd) defaults() (generator.Facts, error) {
	return fleetDefaults(b.Product, b.UpdatePath, b.UpdateSHA256, b.TargetVersion)
}

// fleetDefaults are the fleet-wide facts of batch's flags (and of verify's,
// which names them), checked as any row's.
func fleetDefaults(product, updatePath, updateSHA256, targetVersion *string) (generator.Facts, error) {
	var d generator.Facts
	var empty []string
	for _, flag := range []struct {
		name  string
		value *string
		fact  *string
	}{{"--product", product, &d.Product}, {"--update-path", updatePath, &d.UpdatePath}, {"--update-sha256", updateSHA256, &d.UpdateSHA256}, {"--target-version", targetVersion, &d.TargetVersion}} {
		if flag.value == nil {
			continue
		}
		if *flag.value == "" {
			empty = append(empty, flag.name+": given but empty: leave the flag out, or give a value")
		}
		*flag.fact = *flag.value
	}
	if len(empty) > 0 {
		return d, inputError(empty...)
	}
	if ps := generator.ValidateDefaults(d); len(ps) > 0 {
		return d, inputError(describeProblems(ps, nil)...)
	}
	return d, nil
}

// Help is the detail that sfbpatch batch --help prints.
func (batchCmd) Help() string {
	return "The servers come from --inventory or from --topology (one of the two). Every row is checked before anything is written; any problem is printed as FILE:LINE: field: message, and nothing is written (exit 1). " +
		"Each file is byte for byte what sfbpatch generate writes from the same facts and format. " +
		"Exit codes: 0 written; 1 a bad inventory or flags, nothing written; 2 a file could not be read or written."
}

// batchNames are the files a batch writes besides the servers' own.
const (
	sumsName   = "SHA256SUMS"
	windowName = "window.md"
)

func (b *batchCmd) Run(e env) error {
	formats, err := b.formats()
	if err != nil {
		return err
	}
	defaults, err := b.defaults()
	if err != nil {
		return err
	}
	if b.Inventory == "" && b.Topology == "" {
		return inputError("--inventory or --topology: missing or empty; give the servers as an inventory (CSV or JSON) or as a topology")
	}
	if b.OutDir == "" {
		return inputError("--out-dir: given but empty: give a folder")
	}
	var data []byte
	if b.Topology != "" {
		if data, err = topologyInventory(b.Topology, e); err != nil {
			return err
		}
		// Problems name the lines of the topology's CSV, as topology --format csv prints it.
		b.Inventory = b.Topology + " (as CSV)"
	} else if data, err = readLimited(b.Inventory, e.stdin, generator.MaxInventorySize, "an inventory"); err != nil {
		return exitError{code: readCode(err), lines: []string{"--inventory " + b.Inventory + ": " + err.Error()}}
	}
	// First every row is checked, then the files are written.
	servers := 0
	var folders, inputs []string
	// The inventory or topology is never one of the files written.
	source := b.Topology
	if source == "" {
		source = b.Inventory
	}
	sourceInfo := statInput(source, e.stdin)
	isInput := func(name string) {
		if info, err := os.Stat(filepath.Join(b.OutDir, name)); err == nil && sourceInfo != nil && os.SameFile(info, sourceInfo) {
			inputs = append(inputs, name)
		}
	}
	isInput(sumsName)
	isInput(windowName)
	// Per fact, the lines of the rows whose own value wins over the flag's.
	overridden := map[string][]int{}
	seen := generator.ServerLines{}
	err = generator.ReadInventory(data, defaults, func(r generator.Row) error {
		for _, key := range r.Overrides {
			overridden[key] = append(overridden[key], r.Line)
		}
		rowServers, err := generator.RowServers(r, seen)
		if err != nil {
			return err
		}
		for _, f := range rowServers {
			servers++
			// With --force, no file of the batch may be a folder already.
			for _, format := range formats {
				name := strings.ToLower(f.ServerFQDN) + "." + string(format)
				if info, err := os.Stat(filepath.Join(b.OutDir, name)); err == nil && info.IsDir() {
					folders = append(folders, name)
				}
				isInput(name)
			}
		}
		return nil
	})
	if err != nil {
		return inventoryError(b.Inventory, err)
	}
	// Each fact's first three such rows, as FILE:LINE, and a count of the others.
	for _, key := range generator.InventoryDefaults {
		flag := key
		for _, field := range generator.Fields {
			if field.Key == key {
				flag = field.Flag
			}
		}
		lines := overridden[key]
		for _, line := range lines[:min(3, len(lines))] {
			fmt.Fprintf(e.stderr, "note: %s:%d: %s: the row's own value is used, not %s's\n", visible(b.Inventory), line, key, flag)
		}
		if len(lines) > 3 {
			fmt.Fprintf(e.stderr, "note: %s: %s: %d more rows use their own value, not %s's\n", visible(b.Inventory), key, len(lines)-3, flag)
		}
	}
	if len(inputs) > 0 {
		return inputError(fmt.Sprintf("--out-dir %s: these files of the batch are its input, which is never overwritten: %s; nothing was written", visible(b.OutDir), strings.Join(inputs, ", ")))
	}
	if len(folders) > 0 {
		return inputError(fmt.Sprintf("--out-dir %s: these files of the batch are folders there: %s; nothing was written", b.OutDir, strings.Join(folders, ", ")))
	}
	for _, stale := range removeStale(b.OutDir, time.Now().Add(-staleAfter)) {
		fmt.Fprintf(e.stderr, "note: removed what an interrupted batch left: %s\n", visible(stale))
	}
	out, err := b.openOutput()
	if err != nil {
		return err
	}
	defer out.abandon()
	// A signal removes the temporary folder and lists; with --force, the files
	// replaced so far stay, each whole.
	stop := onSignal(out.abandon)
	defer stop()
	bar := progress(e.stderr, servers)
	var sums, window bytes.Buffer
	windowHash := sha256.New()
	doc, err := generator.NewWindowDoc(io.MultiWriter(&window, windowHash), generator.Version)
	if err != nil {
		return err
	}
	summary := map[string]int{}
	// Each warning once, with the servers it concerns.
	warned := map[string][]string{}
	number := 0
	seen = generator.ServerLines{}
	err = generator.ReadInventory(data, defaults, func(r generator.Row) error {
		rowServers, err := generator.RowServers(r, seen)
		if err != nil {
			return err
		}
		for _, f := range rowServers {
			number++
			frontEnds := r.FrontEnds
			if f.IsFrontEnd() {
				frontEnds = nil
			}
			if err := b.writeServer(out, doc, formats, number, f, frontEnds, &sums, summary, warned); err != nil {
				return err
			}
		}
		if bar != nil {
			bar.Add(len(rowServers))
		}
		// Both lists grow by a line a server: they are written out as they fill.
		return out.flush(&sums, &window)
	})
	if err != nil {
		return err
	}
	if err := doc.Close(); err != nil {
		var p generator.Problem
		if errors.As(err, &p) {
			return inputError(visible(b.Inventory) + ": " + p.Error() + "; nothing was written")
		}
		return err
	}
	fmt.Fprintf(&sums, "%x  %s\n", windowHash.Sum(nil), windowName)
	if err := out.finish(&sums, &window); err != nil {
		return err
	}
	if bar != nil {
		bar.Finish()
	}
	fmt.Fprintf(e.stderr, "sfbpatch: servers: %d; files written: %d, in %s\n", servers, servers*len(formats)+2, visible(b.OutDir))
	for _, kind := range slices.Sorted(maps.Keys(summary)) {
		fmt.Fprintf(e.stderr, "  %d %s\n", summary[kind], kind)
	}
	for _, w := range doc.Warnings() {
		fmt.Fprintf(e.stderr, "warning: %s\n", visible(w))
	}
	for _, w := range slices.Sorted(maps.Keys(warned)) {
		servers := warned[w]
		if len(servers) > 3 {
			servers = append(servers[:3:3], fmt.Sprintf("and %d more", len(warned[w])-3))
		}
		fmt.Fprintf(e.stderr, "warning: %s (%s)\n", w, visible(strings.Join(servers, ", ")))
	}
	return nil
}

// writeServer writes one server's files and adds it to window.md: its plan
// built once and its script rendered once, whose SHA-256 window.md names,
// written or not.
func (b *batchCmd) writeServer(out *batchOutput, doc *generator.WindowDoc, formats []generator.Format, number int, f generator.Facts,
	frontEnds []generator.TopologyMachine, sums *bytes.Buffer, summary map[string]int, warned map[string][]string) error {
	plan, err := generator.BuildPlan(f)
	if err != nil {
		return err
	}
	name := strings.ToLower(f.ServerFQDN)
	script, err := generator.Render(plan, generator.Options{Version: generator.Version})
	if err != nil {
		return err
	}
	scriptSum := sha256.Sum256(script)
	for _, format := range formats {
		content, sum := script, scriptSum
		if format != generator.FormatScript {
			if content, err = generator.Render(plan, generator.Options{Format: format, Version: generator.Version}); err != nil {
				return err
			}
			sum = sha256.Sum256(content)
		}
		file := name + "." + string(format)
		if err := out.write(file, content); err != nil {
			return err
		}
		fmt.Fprintf(sums, "%x  %s\n", sum, file)
	}
	if err := doc.Add(generator.NewWindowRow(number, plan, frontEnds, name+".ps1", hex.EncodeToString(scriptSum[:]))); err != nil {
		return err
	}
	summary[plan.Product.Name+", "+plan.Role]++
	for _, w := range plan.Warnings {
		warned[w] = append(warned[w], name)
	}
	return nil
}

// formats checks --format: each of ps1, md, json at most once.
func (b *batchCmd) formats() ([]generator.Format, error) {
	var formats []generator.Format
	for _, f := range b.Format {
		format := generator.Format(strings.TrimSpace(f))
		switch {
		case format != generator.FormatScript && format != generator.FormatRunbook && format != generator.FormatJSON:
			return nil, inputError(fmt.Sprintf("--format: got %q; allowed: ps1, md, json, separated by commas", f))
		case slices.Contains(formats, format):
			return nil, inputError(fmt.Sprintf("--format: %s given twice", format))
		}
		formats = append(formats, format)
	}
	if len(formats) == 0 {
		return nil, inputError("--format: give one or more of ps1, md, json, separated by commas")
	}
	return formats, nil
}

// inventoryError prints every problem of an inventory as FILE:LINE.
func inventoryError(file string, err error) error {
	ps := problemsOf(err)
	if ps == nil {
		return err
	}
	return inputError(describeAt(file, ps)...)
}

// problemsOf is the positioned problems an error carries (one, or a list),
// or nil.
func problemsOf(err error) generator.Problems {
	var ps generator.Problems
	var p generator.Problem
	switch {
	case errors.As(err, &ps):
		return ps
	case errors.As(err, &p):
		return generator.Problems{p}
	}
	return nil
}

// describeAt says each problem of a file as FILE:LINE: field: message: the
// one converter of facts, inventory and topology problems to lines.
func describeAt(file string, ps generator.Problems) []string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String(file)
	}
	return lines
}

// progress is a progress bar on stderr when it is a terminal, else nil.
func progress(stderr io.Writer, servers int) *progressbar.ProgressBar {
	f, ok := stderr.(*os.File)
	if !ok || !isatty.IsTerminal(f.Fd()) || servers < 100 {
		return nil
	}
	return progressbar.NewOptions(servers, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("servers"), progressbar.OptionClearOnFinish())
}

// batchOutput is where a batch writes: a new folder, filled under a
// temporary name and renamed into place at the end; or, with --force, an
// existing one, each file replaced atomically and nothing else touched.
type batchOutput struct {
	dir     string // the folder files are written to now
	final   string // the folder asked for
	private bool   // dir is a temporary folder of this batch
	sums    *os.File
	window  *os.File
}

func (b *batchCmd) openOutput() (*batchOutput, error) {
	out := &batchOutput{final: b.OutDir}
	entries, err := os.ReadDir(b.OutDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		tmp, err := os.MkdirTemp(filepath.Dir(b.OutDir), ".sfbpatch-batch-")
		if err != nil {
			return nil, fmt.Errorf("--out-dir %s: %w; nothing was written", b.OutDir, describeOpenError(err))
		}
		// MkdirTemp makes the folder for its owner alone; the batch's is as any other.
		if err := os.Chmod(tmp, 0o777&^umask()); err != nil {
			os.Remove(tmp)
			return nil, err
		}
		out.dir, out.private = tmp, true
	case err != nil:
		return nil, fmt.Errorf("--out-dir %s: %w; nothing was written", b.OutDir, describeOpenError(err))
	case len(entries) > 0 && !b.Force:
		return nil, inputError(fmt.Sprintf("--out-dir %s: holds files already; give a new or empty folder, or --force to write into it", b.OutDir))
	default:
		out.dir = b.OutDir
	}
	// The two lists are written as they grow, under temporary names.
	for _, f := range []**os.File{&out.sums, &out.window} {
		*f, err = os.CreateTemp(out.dir, ".sfbpatch-list-")
		if err != nil {
			out.abandon()
			return nil, fmt.Errorf("--out-dir %s: %w; nothing was written", b.OutDir, describeOpenError(err))
		}
	}
	return out, nil
}

// write writes one server's file.
func (o *batchOutput) write(name string, data []byte) error {
	path := filepath.Join(o.dir, name)
	if o.private {
		return os.WriteFile(path, data, 0o644)
	}
	// As generate -o: an existing file keeps its permissions.
	write := func(w io.Writer) error { _, err := w.Write(data); return err }
	if info, err := os.Lstat(path); err == nil && info.Mode().IsRegular() {
		return replaceFile(path, info, write)
	}
	return replaceFile(path, nil, write)
}

// flush moves what the lists hold so far to their files.
func (o *batchOutput) flush(sums, window *bytes.Buffer) error {
	if _, err := sums.WriteTo(o.sums); err != nil {
		return err
	}
	_, err := window.WriteTo(o.window)
	return err
}

// finish writes the end of the lists, names them, and puts the folder in
// place.
func (o *batchOutput) finish(sums, window *bytes.Buffer) error {
	if err := o.flush(sums, window); err != nil {
		return err
	}
	for f, name := range map[*os.File]string{o.sums: sumsName, o.window: windowName} {
		if err := f.Chmod(0o666 &^ umask()); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), filepath.Join(o.dir, name)); err != nil {
			return err
		}
	}
	o.sums, o.window = nil, nil
	if o.private {
		if err := os.Rename(o.dir, o.final); err != nil {
			return fmt.Errorf("--out-dir %s: %w", o.final, err)
		}
		o.private = false
	}
	return nil
}

// abandon removes what an unfinished batch wrote under temporary names.
// staleAfter is the age at which a batch's temporary folder or list is
// taken as left by an interrupted batch, not one that is running.
const staleAfter = time.Hour

// removeStale removes the temporary folders beside outDir and the
// temporary files in it that a batch makes, older than before, and returns
// their paths.
func removeStale(outDir string, before time.Time) []string {
	var removed []string
	for _, pattern := range []string{
		filepath.Join(filepath.Dir(outDir), ".sfbpatch-batch-*"),
		filepath.Join(outDir, ".sfbpatch-list-*"),
		filepath.Join(outDir, ".sfbpatch-*.tmp"),
	} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if info, err := os.Lstat(p); err == nil && info.ModTime().Before(before) && os.RemoveAll(p) == nil {
				removed = append(removed, p)
			}
		}
	}
	return removed
}

func (o *batchOutput) abandon() {
	for _, f := range []*os.File{o.sums, o.window} {
		if f != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if o.private {
		// On a signal the batch may still write a file while the folder is removed, which
		// RemoveAll then finds not empty: again, until the folder is gone.
		for range 100 {
			if os.RemoveAll(o.dir) == nil {
				if _, err := os.Stat(o.dir); errors.Is(err, fs.ErrNotExist) {
					break
				}
			}
		}
	}
}
