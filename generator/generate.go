package generator

import "io"

// Generate validates the facts, plans and renders the chosen output, and
// writes it to w only once it is complete.
func Generate(w io.Writer, f Facts, opts Options) error {
	plan, err := BuildPlan(f)
	if err != nil {
		return err
	}
	out, err := Render(plan, opts)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
