// Command cover merges Go coverage profiles (unit tests on the host, the
// edge tests run inside the VM) and prints the statement coverage of the
// packages named, so the test command reports one number per package that
// counts every test that exercised it.
//
//	go run ./test/cover -profile A.out -profile B.out internal/sd internal/agent
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

type block struct {
	stmts   int
	covered bool
}

type profiles []string

func (p *profiles) String() string     { return strings.Join(*p, ",") }
func (p *profiles) Set(v string) error { *p = append(*p, v); return nil }

const module = "github.com/devbox-quadlet/devbox-quadlet/"

func main() {
	var files profiles
	flag.Var(&files, "profile", "a coverage profile (repeatable); a missing file is skipped with a note")
	flag.Parse()
	blocks := map[string]*block{} // by "file:range"
	for _, f := range files {
		if err := merge(f, blocks); err != nil {
			if os.IsNotExist(err) {
				fmt.Printf("cover: %s is missing; not counted\n", f)
				continue
			}
			fmt.Fprintln(os.Stderr, "cover:", err)
			os.Exit(1)
		}
	}
	for _, pkg := range flag.Args() {
		total, covered := 0, 0
		for key, b := range blocks {
			file := key[:strings.LastIndex(key, ":")]
			if path.Dir(strings.TrimPrefix(file, module)) != pkg {
				continue
			}
			total += b.stmts
			if b.covered {
				covered += b.stmts
			}
		}
		if total == 0 {
			fmt.Printf("%-24s no statements in the profiles\n", pkg)
			continue
		}
		fmt.Printf("%-24s %5.1f%% of %d statements\n", pkg, 100*float64(covered)/float64(total), total)
	}
}

// merge adds one profile's blocks: a block counts as covered if any profile
// covered it. Profiles of different modes (set, count, atomic) mix fine
// for that question.
func merge(name string, blocks map[string]*block) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "mode:") || line == "" {
			continue
		}
		// file:startLine.startCol,endLine.endCol numStmts count
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return fmt.Errorf("%s: malformed line %q", name, line)
		}
		stmts, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.Atoi(fields[2])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s: malformed line %q", name, line)
		}
		b := blocks[fields[0]]
		if b == nil {
			b = &block{stmts: stmts}
			blocks[fields[0]] = b
		}
		b.covered = b.covered || count > 0
	}
	return s.Err()
}
