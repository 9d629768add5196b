package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/verdict-tx/verdict/internal/buildinfo"
)

// groups are the command words that gather commands, with their help.
var groups = map[string]struct{ short, long string }{
	"cluster": {"the cluster's members, leader and membership", "Show the cluster and change its membership.\n" + helpCluster},
	"tx":      {"list, inspect and resolve transactions", "List, inspect and resolve transactions.\n" + helpTx},
	"pg":      {"the prepared transactions Verdict left in a PostgreSQL database", "List the prepared transactions Verdict left in a PostgreSQL database, with the coordinator's outcome, and resolve them."},
}

// newRoot builds the command tree over the commands table: the global
// flags on the root (persistent), each command's own flags on it, and each
// command's exit code written to code. Usage errors (an unknown command
// or flag, a bad flag value) are returned by Execute.
func newRoot(g *globals, stdout, stderr io.Writer, code *int) *cobra.Command {
	root := &cobra.Command{
		Use:           "verdictctl",
		Short:         "operate a Verdict coordinator cluster and benchmark it",
		Version:       buildinfo.String("verdictctl"),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	gfs := flag.NewFlagSet("verdictctl", flag.ContinueOnError)
	g.register(gfs)
	gfs.VisitAll(func(f *flag.Flag) {
		if f.Name == "o" {
			return // -o is --output's shorthand here
		}
		pf := pflag.PFlagFromGoFlag(f)
		if f.Name == "output" {
			pf.Shorthand = "o"
		}
		root.PersistentFlags().AddFlag(pf)
	})
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &flagError{cmd: cmd, err: err} })

	defaultHelp := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		if cmd == root {
			printHelp(cmd.OutOrStdout())
			return
		}
		defaultHelp(cmd, args)
		fmt.Fprint(cmd.OutOrStdout(), helpExitCodes)
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				fmt.Fprintf(stderr, "verdictctl help: unknown command %q\n\n", strings.Join(args, " "))
				printHelp(stderr)
				*code = exitUsage
				return nil
			}
			return target.Help()
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "print verdictctl's version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(stdout, buildinfo.String("verdictctl")) },
	})

	parents := map[string]*cobra.Command{}
	for _, c := range commands {
		parent := root
		if len(c.words) > 1 {
			parent = groupCommand(root, parents, c.words[0], stderr, code)
		}
		parent.AddCommand(leafCommand(c, g, stdout, stderr, code))
	}
	return root
}

// groupCommand returns the command of the group word, made on first use:
// alone, or with an argument that is no command of it, it prints its help
// to stderr and fails (exit 2).
func groupCommand(root *cobra.Command, parents map[string]*cobra.Command, word string, stderr io.Writer, code *int) *cobra.Command {
	if p, ok := parents[word]; ok {
		return p
	}
	info := groups[word]
	p := &cobra.Command{
		Use:   word,
		Short: info.short,
		Long:  info.long,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				fmt.Fprintf(stderr, "verdictctl: unknown command %q for %q\n", args[0], cmd.CommandPath())
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					fmt.Fprintf(stderr, "Did you mean %s?\n", strings.Join(s, " or "))
				}
				fmt.Fprintln(stderr)
			}
			cmd.SetOut(stderr)
			_ = cmd.Help()
			*code = exitUsage
			return nil
		},
	}
	p.SuggestionsMinimumDistance = 2
	parents[word] = p
	root.AddCommand(p)
	return p
}

// leafCommand is the cobra command of c: its flags are the ones c's setup
// defines; it validates the global flags and runs c.
func leafCommand(c *command, g *globals, stdout, stderr io.Writer, code *int) *cobra.Command {
	fs := flag.NewFlagSet("verdictctl "+c.name(), flag.ContinueOnError)
	runCmd := c.setup(fs)
	last := c.words[len(c.words)-1]
	cc := &cobra.Command{
		Use:     strings.TrimSpace(last + " " + c.args),
		Short:   c.summary,
		Long:    upperFirst(c.summary) + ".",
		Example: "  " + exampleOf(c),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.validate(); err != nil {
				fmt.Fprintf(stderr, "verdictctl %s: %v\n", c.name(), err)
				*code = exitUsage
				return nil
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			*code = runCmd(&env{globals: *g, ctx: ctx, stdout: stdout, stderr: stderr}, args)
			return nil
		},
	}
	cc.Flags().AddGoFlagSet(fs)
	return cc
}

// exampleOf is a command line that uses c, for its help.
func exampleOf(c *command) string {
	if ex, ok := commandExamples[c.name()]; ok {
		return "verdictctl " + c.name() + " " + ex
	}
	return "verdictctl " + strings.TrimSpace(c.name()+" "+c.args)
}

var commandExamples = map[string]string{
	"cluster status":           "--endpoints 127.0.0.1:7401,127.0.0.1:7402,127.0.0.1:7403",
	"cluster add":              "4=10.0.0.4:7400 --timeout 1m",
	"cluster remove":           "4",
	"cluster transfer":         "2",
	"cluster check":            "-o json",
	"cluster clear-divergence": "3 --operator alice",
	"tx list":                  "--stuck --older-than 5m -o json",
	"tx show":                  "01936b2a-0000-7000-8000-000000000001",
	"tx retry":                 "01936b2a-0000-7000-8000-000000000001",
	"tx abort":                 "01936b2a-0000-7000-8000-000000000001 --reason \"customer cancelled\"",
	"tx forget":                "01936b2a-0000-7000-8000-000000000001 --participant orders --reason \"host lost, data restored\"",
	"pg prepared":              "--dsn postgres://postgres@127.0.0.1:5432/orders --resolve",
	"bench":                    "--duration 10s --concurrency 64 --participants 2",
	"probe":                    "http://127.0.0.1:9090/readyz",
}

// flagError is a flag the command line got wrong.
type flagError struct {
	cmd *cobra.Command
	err error
}

func (e *flagError) Error() string { return e.err.Error() }

// flagNameRE finds the flag an error of pflag's is about.
var flagNameRE = regexp.MustCompile(`-(-[A-Za-z0-9][A-Za-z0-9-]*|[A-Za-z])\b`)

// reportUsageError prints a usage error of Execute in verdictctl's one
// error style: what was wrong, an example of a right value for a flag, and
// where the help is.
func reportUsageError(w io.Writer, err error) {
	var fe *flagError
	if !errors.As(err, &fe) {
		fmt.Fprintf(w, "verdictctl: %v\nRun 'verdictctl --help' for the commands.\n", err)
		return
	}
	path := fe.cmd.CommandPath()
	fmt.Fprintf(w, "%s: %v\n", path, fe.err)
	if m := flagNameRE.FindStringSubmatch(fe.err.Error()); m != nil {
		name := strings.TrimPrefix(m[1], "-")
		if f := lookupFlag(fe.cmd, name); f != nil {
			fmt.Fprintf(w, "For example: --%s %s (%s)\n", f.Name, flagExample(f), f.Usage)
		}
	}
	fmt.Fprintf(w, "Run '%s --help' for its flags.\n", path)
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	if len(name) == 1 {
		if f := cmd.Flags().ShorthandLookup(name); f != nil {
			return f
		}
	}
	return cmd.InheritedFlags().Lookup(name)
}

// flagExamples are example values of the flags whose type says little.
var flagExamples = map[string]string{
	"endpoints": "127.0.0.1:7401,127.0.0.1:7402", "output": "json", "state": "preparing",
	"after": "01936b2a-0000-7000-8000-000000000001", "participant": "orders", "reason": `"host lost, data restored"`,
	"operator": "alice", "dsn": "postgres://postgres@127.0.0.1:5432/orders", "scenario": "mem",
	"tls-ca": "ca.pem", "tls-cert": "client.pem", "tls-key": "client-key.pem", "admin-token": "s3cret",
	"pg-dsn": "postgres://postgres@127.0.0.1:5432/test", "pg-databases": "bench_a,bench_b", "marker-table": "verdict_prepared_marker",
	"older-than": "5m", "timeout": "10s", "limit": "50",
}

// flagExample is an example value of f.
func flagExample(f *pflag.Flag) string {
	if ex, ok := flagExamples[f.Name]; ok {
		return ex
	}
	switch f.Value.Type() {
	case "duration":
		return "30s"
	case "int", "int64", "uint", "uint64":
		return "10"
	case "bool":
		return "true"
	}
	return "VALUE"
}

// doubleDash rewrites -name to --name for every long flag of the tree
// (before a "--"): verdictctl parsed Go's flag syntax before it used
// cobra, and scripts may still write -stuck or -endpoints x.
func doubleDash(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { long[f.Name] = len(f.Name) > 1 }
		c.PersistentFlags().VisitAll(add)
		c.Flags().VisitAll(add)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && long[name] {
			a = "-" + a
		}
		out[i] = a
	}
	return out
}
