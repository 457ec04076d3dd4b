package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/alecthomas/kong"

	"github.com/sfbpatch/sfbpatch/generator"
)

// Exit codes of sfbpatch itself.
const (
	exitOK       = 0
	exitBadInput = 1 // bad flags or facts: nothing was written
	exitIO       = 2 // a file could not be read or written
)

type cli struct {
	Generate generateCmd `cmd:"" help:"Compile one server's facts into its patch script."`
	Version  versionCmd  `cmd:"" help:"Print the version of sfbpatch."`
}

// env is what commands receive instead of globals.
type env struct {
	stdout io.Writer
	stderr io.Writer
}

// inputError is bad input from the user: exit code 1.
type inputError struct{ lines []string }

func (e inputError) Error() string { return fmt.Sprint(e.lines) }

// run parses args, runs the command and returns the exit code. Every error
// is printed as "sfbpatch: ..." lines on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	var c cli
	code := -1
	parser, err := kong.New(&c,
		kong.Name("sfbpatch"),
		kong.Description("Compiles a Skype for Business Server or Lync Server 2013 Back End or Standard Edition server's facts into one standalone PowerShell script that carries out Microsoft's patch procedure.\n\nExit codes: 0 success; 1 bad flags or facts (nothing written); 2 a file could not be read or written."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { code = c }),
		kong.UsageOnError(),
	)
	if err != nil {
		panic(err) // the CLI model itself is wrong: a programming error
	}
	ctx, err := parser.Parse(args)
	if code >= 0 {
		return code // --help was printed
	}
	if err != nil {
		fmt.Fprintf(stderr, "sfbpatch: %v\n", err)
		return exitBadInput
	}
	err = ctx.Run(env{stdout: stdout, stderr: stderr})
	var in inputError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &in):
		for _, l := range in.lines {
			fmt.Fprintf(stderr, "sfbpatch: %s\n", l)
		}
		return exitBadInput
	default:
		fmt.Fprintf(stderr, "sfbpatch: %v\n", err)
		return exitIO
	}
}

type versionCmd struct{}

func (versionCmd) Run(e env) error {
	_, err := fmt.Fprintf(e.stdout, "sfbpatch %s\n", generator.Version)
	return err
}
