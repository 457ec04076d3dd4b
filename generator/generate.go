package generator

import "io"

// Generate validates the facts, plans and renders the chosen output, and
// writes it to w only once it is complete.
func Generate(w io.Writer, f Facts, opts Options) error {
	plan, err := BuildPlan(f)
	if err != nil {
		return err
	}
	if opts.Format == "" || opts.Format == FormatScript {
		version, err := opts.version()
		if err != nil {
			return err
		}
		return writeBuilt(w, plan, version)
	}
	out, err := render(plan, opts, true)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
