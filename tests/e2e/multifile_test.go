package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pecan-judge/pecan/tests/testserver"
)

// multiFile is a submission of several files in each shipped language:
// A+B where the sum is computed in another file than the one the program
// starts from, which is never the language's single-file name when the
// language lets the submission choose.
var multiFile = map[string][]testserver.File{
	"c": {
		{Name: "lib/calc.h", Content: "#ifndef CALC_H\n#define CALC_H\nlong long add(long long a, long long b);\n#endif\n"},
		{Name: "lib/calc.c", Content: "#include \"calc.h\"\nlong long add(long long a, long long b) { return a + b; }\n"},
		{Name: "solve.c", Content: `#include <stdio.h>
#include "lib/calc.h"
int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) return 1;
    printf("%lld\n", add(a, b));
    return 0;
}
`},
	},
	"cpp": {
		{Name: "calc.hpp", Content: "#pragma once\nnamespace calc { long long add(long long a, long long b); }\n"},
		{Name: "calc.cc", Content: "#include \"calc.hpp\"\nlong long calc::add(long long a, long long b) { return a + b; }\n"},
		{Name: "src/main.cpp", Content: `#include <bits/stdc++.h>
#include "../calc.hpp"
int main() {
    long long a, b;
    std::cin >> a >> b;
    std::cout << calc::add(a, b) << "\n";
}
`},
	},
	"java": {
		{Name: "com/acme/Util.java", Content: "package com.acme;\n\nfinal class Util {\n    static long add(long a, long b) { return a + b; }\n}\n"},
		{Name: "com/acme/Solver.java", Content: `package com.acme;

import java.util.Scanner;

public class Solver {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.println(Util.add(in.nextLong(), in.nextLong()));
    }
}
`},
	},
	"kotlin": {
		{Name: "lib/calc.kt", Content: "package lib\n\nfun add(a: Long, b: Long) = a + b\n"},
		{Name: "app.kt", Content: `package app

import lib.add

fun main() {
    val (a, b) = readLine()!!.trim().split(Regex("\\s+")).map { it.toLong() }
    println(add(a, b))
}
`},
	},
	"python": {
		{Name: "pkg/__init__.py", Content: ""},
		{Name: "pkg/calc.py", Content: "def add(a, b):\n    return a + b\n"},
		{Name: "__main__.py", Content: "from pkg.calc import add\n\na, b = map(int, input().split())\nprint(add(a, b))\n"},
	},
	"node": {
		{Name: "lib.js", Content: "exports.add = (a, b) => a + b;\n"},
		{Name: "index.js", Content: `const { add } = require("./lib");
const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\s+/).map(Number);
console.log(add(a, b));
`},
	},
	"go": {
		{Name: "calc.go", Content: "package main\n\nfunc add(a, b int64) int64 { return a + b }\n"},
		{Name: "main.go", Content: `package main

import "fmt"

func main() {
	var a, b int64
	fmt.Scan(&a, &b)
	fmt.Println(add(a, b))
}
`},
	},
	"rust": {
		{Name: "calc.rs", Content: "pub fn add(a: i64, b: i64) -> i64 {\n    a + b\n}\n"},
		{Name: "main.rs", Content: `mod calc;

use std::io::Read;

fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).unwrap();
    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    println!("{}", calc::add(v[0], v[1]));
}
`},
	},
	"typescript": {
		{Name: "lib/calc.ts", Content: "export function add(a: number, b: number): number {\n    return a + b;\n}\n"},
		{Name: "main.ts", Content: `import * as fs from "fs";
import { add } from "./lib/calc";

const [a, b]: number[] = fs.readFileSync(0, "utf8").trim().split(/\s+/).map(Number);
console.log(add(a, b));
`},
	},
}

// TestMultiFile judges a multi-file A+B in every shipped language, sent
// as judge-single's files.
func TestMultiFile(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for name, files := range multiFile {
		t.Run(name, func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: name, Files: files, Stdin: "1 2\n", DesiredStdout: "3\n"})
			expect(t, r, testserver.Accepted)
		})
	}
}

// TestMultiFileVariants: how languages find the file or class to start
// from when there is a choice.
func TestMultiFileVariants(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		name, lang string
		files      []testserver.File
	}{
		// ES modules importing each other; base64 content.
		{"node_esm", "node", []testserver.File{
			{Name: "lib.mjs", Content: b64("export const add = (a, b) => a + b;\n"), Encoding: "base64"},
			{Name: "main.mjs", Content: b64("import { add } from \"./lib.mjs\";\nimport { readFileSync } from \"fs\";\n" +
				"const [a, b] = readFileSync(0, \"utf8\").trim().split(/\\s+/).map(Number);\nconsole.log(add(a, b));\n"), Encoding: "base64"},
		}},
		// Without __main__.py, the first file sent is the program.
		{"python_first_file", "python", []testserver.File{
			{Name: "solve.py", Content: "import helper\n\nprint(helper.add(*map(int, input().split())))\n"},
			{Name: "helper.py", Content: "def add(a, b):\n    return a + b\n"},
		}},
		// Two classes with main: the one named Main runs, with a note.
		{"java_two_mains", "java", []testserver.File{
			{Name: "Other.java", Content: "public class Other { public static void main(String[] a) { System.out.println(\"other\"); } }\n"},
			{Name: "app/Main.java", Content: "package app;\n\npublic class Main {\n    public static void main(String[] args) {\n" +
				"        java.util.Scanner in = new java.util.Scanner(System.in);\n        System.out.println(in.nextLong() + in.nextLong());\n    }\n}\n"},
		}},
		// A Rust module in a directory (calc/mod.rs).
		{"rust_mod_dir", "rust", []testserver.File{
			{Name: "main.rs", Content: "mod calc;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_line(&mut s).unwrap();\n" +
				"    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!(\"{}\", calc::add(v[0], v[1]));\n}\n"},
			{Name: "calc/mod.rs", Content: "pub fn add(a: i64, b: i64) -> i64 { a + b }\n"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: c.lang, Files: c.files, Stdin: "1 2\n", DesiredStdout: "3\n"})
			expect(t, r, testserver.Accepted)
			if c.name == "java_two_mains" && !strings.Contains(r.CompileOutput, "running app.Main") {
				t.Errorf("compile_output does not say which main class runs: %s", r)
			}
		})
	}
}

// TestJavaMainClass: judge-single's code in Java is named after its public
// class, and the class with main runs whatever its name.
func TestJavaMainClass(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	solution := `import java.util.Scanner;

public class Solution {
    public static void main(String[] args) {
        Scanner in = new Scanner(System.in);
        System.out.println(in.nextLong() + in.nextLong());
    }
}
`
	t.Run("public_class_Solution", func(t *testing.T) {
		start(t)
		r := judge(t, testserver.Job{Language: "java", Code: solution, Stdin: "1 2\n", DesiredStdout: "3\n"})
		expect(t, r, testserver.Accepted)
	})
	t.Run("in_a_package", func(t *testing.T) {
		start(t)
		r := judge(t, testserver.Job{Language: "java", Code: "package contest.a;\n\n" + solution, Stdin: "1 2\n", DesiredStdout: "3\n"})
		expect(t, r, testserver.Accepted)
	})
	t.Run("no_public_class", func(t *testing.T) {
		start(t)
		code := strings.Replace(solution, "public class Solution", "class Solver", 1)
		r := judge(t, testserver.Job{Language: "java", Code: code, Stdin: "1 2\n", DesiredStdout: "3\n"})
		expect(t, r, testserver.Accepted)
	})
	t.Run("no_main", func(t *testing.T) {
		start(t)
		r := judge(t, testserver.Job{Language: "java", Code: "public class Lib { static int f() { return 1; } }\n", Stdin: "1 2\n", DesiredStdout: "3\n"})
		expect(t, r, testserver.CompileError)
		if !strings.Contains(r.CompileOutput, "no class has a method public static void main") {
			t.Errorf("compile_output does not say there is no main: %s", r)
		}
	})
	t.Run("kotlin_no_main", func(t *testing.T) {
		start(t)
		r := judge(t, testserver.Job{Language: "kotlin", Code: "fun add(a: Int, b: Int) = a + b\n", Stdin: "1 2\n", DesiredStdout: "3\n"})
		expect(t, r, testserver.CompileError)
		if !strings.Contains(r.CompileOutput, "no main function") {
			t.Errorf("compile_output does not say there is no main: %s", r)
		}
	})
}

// TestSyntaxErrors: Python and JavaScript syntax errors are compile
// errors with the interpreter's message, in any file of the submission.
func TestSyntaxErrors(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for _, c := range []struct {
		name, lang, code string
		files            []testserver.File
		want             []string
	}{
		{name: "python", lang: "python", code: "a, b = map(int, input().split())\nprint(a + b\n",
			want: []string{`File "main.py", line 2`, "SyntaxError", "was never closed"}},
		{name: "python_module", lang: "python", files: []testserver.File{
			{Name: "main.py", Content: "import lib\nprint(lib.add(1, 2))\n"},
			{Name: "lib.py", Content: "def add(a, b)\n    return a + b\n"},
		}, want: []string{`File "lib.py", line 1`, "SyntaxError"}},
		{name: "node", lang: "node", code: "const [a, b] = [1, 2];\nconsole.log(a b);\n",
			want: []string{"main.js:2", "SyntaxError: missing ) after argument list"}},
		{name: "node_module", lang: "node", files: []testserver.File{
			{Name: "main.mjs", Content: "import { add } from \"./lib.mjs\";\nconsole.log(add(1, 2));\n"},
			{Name: "lib.mjs", Content: "export const add = (a, b) => a +;\n"},
		}, want: []string{"lib.mjs:1", "SyntaxError"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start(t)
			r := judge(t, testserver.Job{Language: c.lang, Code: c.code, Files: c.files, Stdin: "1 2\n", DesiredStdout: "3\n"})
			expect(t, r, testserver.CompileError)
			for _, w := range c.want {
				if !strings.Contains(r.CompileOutput, w) {
					t.Errorf("compile_output does not contain %q: %s", w, r)
				}
			}
		})
	}
}

// TestBadFiles: files the server cannot take are a 400 naming the
// problem, through the real server.
func TestBadFiles(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for name, c := range map[string]struct {
		body string
		want string
	}{
		"dot_dot":        {`{"language":"c","files":[{"name":"../main.c","content":"int main(){}"}]}`, `".."`},
		"absolute":       {`{"language":"c","files":[{"name":"/tmp/main.c","content":"int main(){}"}]}`, "relative"},
		"duplicate":      {`{"language":"c","files":[{"name":"a.c","content":""},{"name":"a.c","content":""}]}`, "files[0]"},
		"code_and_files": {`{"language":"c","code":"int main(){}","files":[{"name":"a.c","content":""}]}`, `"files"`},
		"no_source":      {`{"language":"c","files":[{"name":"a.h","content":""}]}`, ".c"},
		"bad_base64":     {`{"language":"c","files":[{"name":"a.c","content":"***","encoding":"base64"}]}`, "base64"},
	} {
		t.Run(name, func(t *testing.T) {
			start(t)
			status, body := post(t, "/v1/judge/judge-single", "application/json", []byte(c.body))
			var e struct {
				Error string `json:"error"`
			}
			if status != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, c.want) {
				t.Errorf("status %d, body %s; want 400 with an error containing %q", status, clip(string(body)), c.want)
			}
		})
	}
}
