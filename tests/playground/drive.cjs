// Drives the playground in headless Chromium, as a person would, and
// prints what the page showed as one JSON object on stdout; the Go test
// (playground_test.go) decides whether that is right. Run by the test as
//   node drive.cjs CONFIG_JSON
// with puppeteer-core found through NODE_PATH (.tools/puppeteer).
"use strict";
const puppeteer = require("puppeteer-core");

const cfg = JSON.parse(process.argv[2]);
const deadline = { timeout: cfg.timeoutMs };
const seen = { steps: [] };
const step = (name) => { seen.steps.push(name); };

async function text(page, sel) {
  return page.$eval(sel, (e) => e.textContent);
}

// typeProgram replaces the editor's text by typing it, key by key.
async function typeProgram(page, program) {
  await page.click(".cm-content");
  await page.keyboard.down("Control");
  await page.keyboard.press("KeyA");
  await page.keyboard.up("Control");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(program);
  await page.keyboard.press("Escape"); // closes a completion list, if open
  return page.evaluate(() => window.pecanPlayground.source());
}

async function replaceText(page, sel, value) {
  await page.click(sel, { clickCount: 3 });
  await page.$eval(sel, (e) => { e.value = ""; });
  await page.type(sel, value);
}

// run clicks Run and waits for the answer to the request it sends.
async function run(page) {
  const answered = page.waitForResponse((r) => r.url().endsWith("/v1/judge/judge-single"), deadline);
  await page.click("#run");
  await answered;
  await page.waitForFunction(() => !document.querySelector("#run").disabled && !document.querySelector("#result").hidden, deadline);
  return {
    verdict: await text(page, "#verdict"),
    time: await text(page, "#time"),
    memory: await text(page, "#memory"),
    stdout: await text(page, "#stdout"),
    compileOutput: await text(page, "#compile-output"),
  };
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    // Root in CI: Chromium's own sandbox needs an unprivileged user.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
    userDataDir: cfg.profile,
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 680 });
    const external = [];
    page.on("request", (r) => { if (!r.url().startsWith(cfg.url) && !r.url().startsWith("data:")) external.push(r.url()); });
    page.on("pageerror", (e) => { seen.pageErrors = (seen.pageErrors || []).concat(String(e)); });
    // Every answer of the native API the page received, for the test to
    // check against the OpenAPI document.
    const answers = [];
    page.on("response", (r) => {
      const u = new URL(r.url());
      if (!u.pathname.startsWith("/v1/")) return;
      answers.push(r.text().then(
        (body) => ({ method: r.request().method(), path: u.pathname, status: r.status(), contentType: r.headers()["content-type"] || "", body }),
        (err) => ({ method: r.request().method(), path: u.pathname, status: r.status(), unreadable: String(err) }),
      ));
    });

    await page.goto(cfg.url + "/", { waitUntil: "load", ...deadline });
    await page.waitForFunction(() => document.body.dataset.ready === "true", deadline);
    step("loaded");
    seen.noticeWithoutToken = (await page.$eval("#notice", (e) => (e.hidden ? "" : e.textContent)));

    // The token: typed, then the page loads the languages with it.
    await page.type("#token", cfg.token);
    await page.keyboard.press("Tab");
    await page.waitForFunction(() => document.querySelectorAll("#language option").length > 0, deadline);
    seen.languages = await page.$$eval("#language option", (os) => os.map((o) => o.value));
    seen.tokenStored = await page.evaluate(() => sessionStorage.getItem("pecan.token"));
    step("token");

    await page.select("#language", "python");
    seen.typed = await typeProgram(page, cfg.program);
    await replaceText(page, "#stdin", cfg.stdin);
    await replaceText(page, "#expected", cfg.expected);
    seen.accepted = await run(page);
    await page.screenshot({ path: cfg.screenshots + "/run.png" });
    step("run");

    await replaceText(page, "#expected", cfg.wrongExpected);
    seen.wrong = await run(page);
    step("wrong answer");

    await page.evaluate((src) => window.pecanPlayground.setSource(src), cfg.brokenProgram);
    seen.compileError = await run(page);
    step("compile error");

    // A problem: upload the package, submit, watch the tests fill in.
    await page.click("#tab-problem");
    const input = await page.$("#package");
    await input.uploadFile(cfg.package);
    const uploaded = page.waitForResponse((r) => r.url().endsWith("/v1/problems") && r.request().method() === "POST", deadline);
    await page.click("#upload");
    seen.uploadStatus = (await uploaded).status();
    await page.waitForFunction((id) => document.querySelector("#problem").value === id && document.querySelector("#problem-info").textContent !== "", deadline, cfg.problemID);
    seen.problemInfo = await text(page, "#problem-info");
    step("upload");

    await page.evaluate((src) => window.pecanPlayground.setSource(src), cfg.slowProgram);
    await page.select("#mode", "all");
    await page.click("#submit");
    // Until the verdict: each state the page shows, and the rows' verdicts
    // as they were then.
    seen.progress = [];
    const until = Date.now() + cfg.timeoutMs;
    for (;;) {
      const snap = await page.evaluate(() => ({
        state: document.querySelector("#submission-state").textContent,
        rows: [...document.querySelectorAll("#tests tbody tr")].map((r) => r.cells[2].textContent),
      }));
      const last = seen.progress[seen.progress.length - 1];
      if (!last || last.state !== snap.state || last.rows.join() !== snap.rows.join()) seen.progress.push(snap);
      if (snap.state === "done" && !(await page.$eval("#submit", (b) => b.disabled))) break;
      if (Date.now() > until) throw new Error("no verdict of the submission in time: " + JSON.stringify(snap));
      await new Promise((r) => setTimeout(r, 50));
    }
    seen.submission = {
      verdict: await text(page, "#submission-verdict"),
      tests: await page.$$eval("#tests tbody tr", (rs) => rs.map((r) => ({ name: r.cells[0].textContent, verdict: r.cells[2].textContent, time: r.cells[3].textContent }))),
    };
    await page.screenshot({ path: cfg.screenshots + "/problem.png" });
    step("submission");
    seen.notice = await page.$eval("#notice", (e) => (e.hidden ? "" : e.textContent));
    seen.external = external;
    seen.answers = await Promise.all(answers);
  } finally {
    await browser.close();
  }
}

main().then(
  () => { process.stdout.write(JSON.stringify(seen) + "\n"); },
  (err) => { seen.error = String(err && err.stack || err); process.stdout.write(JSON.stringify(seen) + "\n"); process.exitCode = 1; },
);
