package e2e

import (
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// lang holds one language's test programs. sum is A+B: it reads two
// integers and prints their sum plus the placeholder OFFSET, which is
// 0 for the correct program and 1 for the wrong one. broken does not
// compile; diag is a piece of the compiler's message about it. exit3
// compiles and exits with status 3.
type lang struct {
	sum    string
	broken string
	diag   string
	exit3  string
}

var langs = map[string]lang{
	"c": {
		exit3: "int main(void) { return 3; }\n",
		sum: `#include <stdio.h>
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%lld\n", a + b + OFFSET);
    return 0;
}
`,
		broken: "int main(void) { return undefined_var; }\n",
		diag:   "undeclared",
	},
	"cpp": {
		exit3: "int main() { return 3; }\n",
		sum: `#include <bits/stdc++.h>
int main() {
    long long a, b;
    std::cin >> a >> b;
    std::cout << a + b + OFFSET << "\n";
}
`,
		broken: "int main() { return undefined_var; }\n",
		diag:   "was not declared",
	},
	"go": {
		exit3: "package main\n\nimport \"os\"\n\nfunc main() { os.Exit(3) }\n",
		sum: `package main

import "fmt"

func main() {
	var a, b int64
	fmt.Scan(&a, &b)
	fmt.Println(a + b + OFFSET)
}
`,
		broken: "package main\n\nfunc main() { undefinedVar++ }\n",
		diag:   "undefined: undefinedVar",
	},
	"java": {
		exit3: "public class Main {\n    public static void main(String[] args) { System.exit(3); }\n}\n",
		sum: `import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        long a = in.nextLong(), b = in.nextLong();
        System.out.println(a + b + OFFSET);
    }
}
`,
		broken: "public class Main { public static void main(String[] a) { undefinedVar++; } }\n",
		diag:   "cannot find symbol",
	},
	"kotlin": {
		exit3: "fun main() { kotlin.system.exitProcess(3) }\n",
		sum: `fun main() {
    val (a, b) = readLine()!!.trim().split(Regex("\\s+")).map { it.toLong() }
    println(a + b + OFFSET)
}
`,
		broken: "fun main() { println(undefinedVar) }\n",
		diag:   "nresolved reference",
	},
	"node": {
		exit3: "process.exit(3);\n",
		sum: `const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\s+/).map(Number);
console.log(a + b + OFFSET);
`,
	},
	"python": {
		exit3: "import sys\nsys.exit(3)\n",
		sum: `a, b = map(int, input().split())
print(a + b + OFFSET)
`,
	},
	"rust": {
		exit3: "fn main() { std::process::exit(3); }\n",
		sum: `use std::io::Read;

fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).unwrap();
    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    println!("{}", v[0] + v[1] + OFFSET);
}
`,
		broken: "fn main() { println!(\"{}\", undefined_var); }\n",
		diag:   "cannot find value `undefined_var`",
	},
	"typescript": {
		exit3: "process.exit(3);\n",
		sum: `import * as fs from "fs";
const [a, b]: number[] = fs.readFileSync(0, "utf8").trim().split(/\s+/).map(Number);
console.log(a + b + OFFSET);
`,
		broken: "const x: number = undefinedVar;\nconsole.log(x);\n",
		diag:   "Cannot find name 'undefinedVar'",
	},
}

func sumProgram(language string, offset string) string {
	return strings.ReplaceAll(langs[language].sum, "OFFSET", offset)
}

// TestLanguages judges A+B (Accepted), a wrong sum (WrongAnswer), an exit
// with status 3 (RuntimeError) and, for compiled languages, a compile
// error in every shipped language.
func TestLanguages(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for name, l := range langs {
		t.Run(name+"/accepted", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: sumProgram(name, "0"), Stdin: "1 2\n", DesiredStdout: "3\n"})
			expect(t, r, testserver.Accepted)
			if r.Stdout != "3\n" {
				t.Errorf("stdout = %q, want %q", r.Stdout, "3\n")
			}
		})
		t.Run(name+"/wrong_answer", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: sumProgram(name, "1"), Stdin: "1 2\n", DesiredStdout: "3\n"})
			expect(t, r, testserver.WrongAnswer)
			if r.Stdout != "4\n" {
				t.Errorf("stdout = %q, want %q", r.Stdout, "4\n")
			}
		})
		t.Run(name+"/runtime_error", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: l.exit3, Stdin: "1 2\n", DesiredStdout: "3\n"})
			expect(t, r, testserver.RuntimeError)
			if r.ExitCode != 3 || r.Signal != 0 {
				t.Errorf("exit_code = %d signal = %d, want 3 and 0: %s", r.ExitCode, r.Signal, r)
			}
		})
		if l.broken == "" {
			continue
		}
		t.Run(name+"/compile_error", func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Code: l.broken, Stdin: "1 2\n", DesiredStdout: "3\n"})
			expect(t, r, testserver.CompileError)
			if !strings.Contains(r.CompileOutput, l.diag) {
				t.Errorf("compile_output does not contain %q: %s", l.diag, r)
			}
		})
	}
}

// TestAliases requests A+B through every alias of pecan.toml.
func TestAliases(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	aliases := map[string]string{
		"c++": "cpp", "py": "python", "python3": "python", "kt": "kotlin", "rs": "rust",
		"golang": "go", "ts": "typescript", "javascript": "node", "js": "node",
	}
	for alias, id := range aliases {
		t.Run(alias, func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: alias, Code: sumProgram(id, "0"), Stdin: "1 2", DesiredStdout: "3\n"})
			expect(t, r, testserver.Accepted)
		})
	}
}
