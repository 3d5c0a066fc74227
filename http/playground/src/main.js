// The playground: a CodeMirror editor and two forms over Pecan's native
// API (judge-single; problems and submission-async). Bundled by
// `make playground` into static/app.js; nothing is fetched from anywhere
// but the server that serves the page.
import { EditorView, basicSetup } from "codemirror";
import { Compartment } from "@codemirror/state";
import { StreamLanguage } from "@codemirror/language";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { java } from "@codemirror/lang-java";
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { rust } from "@codemirror/lang-rust";
import { kotlin } from "@codemirror/legacy-modes/mode/clike";

// Syntax modes by language id; an id not listed edits as plain text.
const modes = {
  c: () => cpp(),
  cpp: () => cpp(),
  go: () => go(),
  java: () => java(),
  kotlin: () => StreamLanguage.define(kotlin),
  node: () => javascript(),
  python: () => python(),
  rust: () => rust(),
  typescript: () => javascript({ typescript: true }),
};

// A first program per language: A + B.
const samples = {
  c: '#include <stdio.h>\n\nint main(void) {\n    long a, b;\n    scanf("%ld %ld", &a, &b);\n    printf("%ld\\n", a + b);\n    return 0;\n}\n',
  cpp: "#include <bits/stdc++.h>\nusing namespace std;\n\nint main() {\n    long long a, b;\n    cin >> a >> b;\n    cout << a + b << '\\n';\n}\n",
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n',
  java: "import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        Scanner in = new Scanner(System.in);\n        System.out.println(in.nextLong() + in.nextLong());\n    }\n}\n",
  kotlin: "fun main() {\n    val (a, b) = readln().split(\" \").map { it.toLong() }\n    println(a + b)\n}\n",
  node: "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n",
  python: "a, b = map(int, input().split())\nprint(a + b)\n",
  rust: "use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!(\"{}\", v[0] + v[1]);\n}\n",
  typescript: "import { readFileSync } from 'fs';\nconst [a, b] = readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n",
};

const $ = (id) => document.getElementById(id);
const tokenKey = "pecan.token";

function notice(msg) {
  const n = $("notice");
  n.textContent = msg || "";
  n.hidden = !msg;
}

// api calls the server with the token of the page, if any, and answers
// the decoded JSON; an error answer throws its {"error"} message.
async function api(method, path, body, contentType) {
  const headers = {};
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = contentType || "application/json";
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : contentType ? body : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const why = data && data.error ? data.error : text || resp.statusText;
    const err = new Error(`HTTP ${resp.status}: ${why}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

function authHint(err) {
  return err.status === 401 ? " (enter an API token above)" : "";
}

// --- editor -------------------------------------------------------------

const syntax = new Compartment();
const editor = new EditorView({
  parent: $("editor"),
  extensions: [basicSetup, syntax.of([]), EditorView.lineWrapping],
});

function setSource(text) {
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } });
}

function setLanguage(id, withSample) {
  editor.dispatch({ effects: syntax.reconfigure(modes[id] ? modes[id]() : []) });
  if (withSample && samples[id]) setSource(samples[id]);
}

// The page's test hooks and a console user's: read and write the source.
window.pecanPlayground = {
  source: () => editor.state.doc.toString(),
  setSource,
};

async function loadLanguages() {
  const sel = $("language");
  const langs = await api("GET", "/v1/languages");
  sel.replaceChildren();
  for (const l of langs) {
    const o = document.createElement("option");
    o.value = l.id;
    o.textContent = l.available ? l.name : `${l.name} (unavailable)`;
    o.disabled = !l.available;
    sel.append(o);
  }
  const first = langs.find((l) => l.id === "python" && l.available) || langs.find((l) => l.available);
  if (first) sel.value = first.id;
  setLanguage(sel.value, true);
}

function limits() {
  return {
    time_limit: Number($("time-limit").value) || 2,
    memory_limit: Math.round((Number($("memory-limit").value) || 256) * 1024),
  };
}

// --- run a program --------------------------------------------------------

async function run() {
  const button = $("run");
  button.disabled = true;
  notice("");
  try {
    const body = { language: $("language").value, code: editor.state.doc.toString(), stdin: $("stdin").value, ...limits() };
    const expected = $("expected").value;
    if (expected !== "") body.desired_stdout = expected;
    const r = await api("POST", "/v1/judge/judge-single", body);
    showResult(r);
  } catch (err) {
    notice(err.message + authHint(err));
  } finally {
    button.disabled = false;
  }
}

function decode64(s) {
  try { return new TextDecoder("utf-8", { fatal: false }).decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0))); }
  catch { return s; }
}

function showResult(r) {
  $("result").hidden = false;
  const v = $("verdict");
  v.textContent = r.status;
  v.className = "verdict " + r.status;
  $("time").textContent = r.time.toFixed(3);
  $("memory").textContent = String(r.memory);
  $("wall").textContent = r.wall_time.toFixed(3);
  $("exit").textContent = r.signal ? `signal ${r.signal}` : String(r.exit_code);
  $("stdout").textContent = (r.stdout_base64 ? decode64(r.stdout_base64) : r.stdout) + (r.stdout_truncated ? "\n[output truncated]" : "");
  $("stderr").textContent = (r.stderr_base64 ? decode64(r.stderr_base64) : r.stderr) + (r.stderr_truncated ? "\n[output truncated]" : "");
  $("compile-output").textContent = r.compile_output;
}

// --- judge a problem ----------------------------------------------------

function archiveType(name) {
  const n = name.toLowerCase();
  if (n.endsWith(".zip")) return "application/zip";
  if (n.endsWith(".tar")) return "application/x-tar";
  if (n.endsWith(".tar.gz") || n.endsWith(".tgz")) return "application/gzip";
  return "";
}

async function loadProblems(select) {
  const list = await api("GET", "/v1/problems");
  const sel = $("problem");
  sel.replaceChildren();
  for (const p of list) {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = `${p.name} (${p.tests} tests)`;
    sel.append(o);
  }
  if (select) sel.value = select;
  await describeProblem();
}

async function describeProblem() {
  const id = $("problem").value;
  // Cleared only when there is nothing to describe: clearing before the
  // answer would blank what the page shows while it asks again.
  if (!id) {
    $("problem-info").textContent = "";
    return null;
  }
  const p = await api("GET", "/v1/problems/" + encodeURIComponent(id));
  const lim = [p.time_limit ? `${p.time_limit} s` : null, p.memory_limit ? `${p.memory_limit / 1024} MiB` : null].filter(Boolean);
  $("problem-info").textContent = `${p.name}: ${p.type}, ${p.tests} tests, ${p.validation} validation` + (lim.length ? `, limits ${lim.join(", ")}` : "");
  return p;
}

async function upload() {
  const file = $("package").files[0];
  notice("");
  if (!file) { notice("choose a problem package first"); return; }
  const type = archiveType(file.name);
  if (!type) { notice("a problem package is a .zip, .tar or .tar.gz file"); return; }
  $("upload").disabled = true;
  try {
    const p = await api("POST", "/v1/problems", await file.arrayBuffer(), type);
    await loadProblems(p.id);
  } catch (err) {
    notice(err.message + authHint(err));
  } finally {
    $("upload").disabled = false;
  }
}

// testRows shows the problem's tests, all pending, so that each row fills
// in as the results come.
function testRows(cases) {
  const body = $("tests").tBodies[0];
  body.replaceChildren();
  for (const t of cases) {
    const tr = document.createElement("tr");
    tr.dataset.test = t.name;
    for (const text of [t.name, t.group || "", "pending", "", "", ""]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.cells[2].className = "verdict pending";
    body.append(tr);
  }
  $("tests").hidden = false;
}

function fillTests(tests) {
  const body = $("tests").tBodies[0];
  for (const t of tests) {
    let tr = [...body.rows].find((r) => r.dataset.test === t.name);
    if (!tr) {
      testRows([...[...body.rows].map((r) => ({ name: r.dataset.test, group: r.cells[1].textContent })), t]);
      tr = [...body.rows].find((r) => r.dataset.test === t.name);
    }
    tr.cells[2].textContent = t.status;
    tr.cells[2].className = "verdict " + t.status;
    tr.cells[3].textContent = t.time.toFixed(3);
    tr.cells[4].textContent = String(t.memory);
    tr.cells[5].textContent = t.feedback || "";
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function submit() {
  notice("");
  const problem = $("problem").value;
  if (!problem) { notice("upload or choose a problem first"); return; }
  $("submit").disabled = true;
  try {
    const p = await describeProblem();
    testRows(p.test_cases);
    $("submission-line").hidden = false;
    $("submission-verdict").textContent = "";
    $("submission-verdict").className = "verdict";
    $("submission-score").textContent = "";
    $("submission-compile").hidden = true;
    const { request_id } = await api("POST", "/v1/judge/submission-async", {
      language: $("language").value, code: editor.state.doc.toString(), problem, mode: $("mode").value, ...limits(),
    });
    for (;;) {
      const job = await api("GET", "/v1/judge/result/" + encodeURIComponent(request_id));
      $("submission-state").textContent = job.state;
      // Tests arrive one by one while it runs (job.tests), all at once in
      // job.res when done.
      if (job.tests) fillTests(job.tests);
      if (job.res && job.res.tests) fillTests(job.res.tests);
      if (job.state === "done") { showSubmission(job); break; }
      await sleep(400);
    }
  } catch (err) {
    notice(err.message + authHint(err));
  } finally {
    $("submit").disabled = false;
  }
}

function showSubmission(job) {
  const r = job.res || {};
  if (r.error && !r.status) { notice("not judged: " + r.error); return; }
  const v = $("submission-verdict");
  v.textContent = r.status;
  v.className = "verdict " + r.status;
  $("submission-score").textContent = r.score !== undefined ? `score ${r.score}` : "";
  if (r.compile_output) {
    $("submission-compile").textContent = r.compile_output;
    $("submission-compile").hidden = false;
  }
}

// --- wiring ----------------------------------------------------------

function showTab(name) {
  for (const t of ["run", "problem"]) {
    $("tab-" + t).setAttribute("aria-selected", String(t === name));
    $("pane-" + t).hidden = t !== name;
  }
  if (name === "problem") loadProblems().catch((err) => notice(err.message + authHint(err)));
}

async function start() {
  $("token").value = sessionStorage.getItem(tokenKey) || "";
  $("token").addEventListener("change", () => {
    sessionStorage.setItem(tokenKey, $("token").value.trim());
    loadLanguages().then(() => notice("")).catch((err) => notice(err.message + authHint(err)));
  });
  $("language").addEventListener("change", () => setLanguage($("language").value, true));
  $("run").addEventListener("click", run);
  $("upload").addEventListener("click", upload);
  $("submit").addEventListener("click", submit);
  $("problem").addEventListener("change", () => describeProblem().catch((err) => notice(err.message)));
  $("tab-run").addEventListener("click", () => showTab("run"));
  $("tab-problem").addEventListener("click", () => showTab("problem"));
  setSource(samples.python);
  setLanguage("python", false);
  try {
    await loadLanguages();
  } catch (err) {
    notice(err.message + authHint(err));
  }
  document.body.dataset.ready = "true";
}

start();
