// Opens `bnstep html` pages in headless Chromium (playwright-core, Debian's
// chromium) and prints, as one JSON document, what each page showed, for
// tests/test_html_page.cpp, which compares it with `bnstep run` and `trace`.
// The driver only reads the page and acts on it; it judges nothing.
//   node page_driver.mjs NODE_MODULES_DIR JOB.json
// JOB.json: {"pages": [{"file", "forward", "backward", "walk", "clicks", "real_input",
//   "direct": [FRAGMENT], "predict": [{"step", "answers": {"KIND|SLOT|INDEX": [RIGHT, WRONG]}}],
//   "keyboard", "dark", "layout", "paint", "screenshots": [{"fragment", "path", "width", "height"}],
//   "literal": [TEXT] (whether each step's text holds each)}]}
// The browser is BNSTEP_CHROMIUM, else /usr/bin/chromium; BNSTEP_BROWSER_TABS
// pages are open at once (2).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

// Opens a page and waits until it has drawn its first step: the page paints its header and graph
// first and the step in the next task (html-page.md), then sets data-ready on <html>.
async function open(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => document.documentElement.dataset.ready === "true");
}

const [modules, jobFile] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "noop.js"));
const { chromium } = require("playwright-core");
const job = JSON.parse(readFileSync(jobFile, "utf8"));

const steps = (spec) => [
    ...Array.from({ length: spec.forward }, (_, k) => `forward-${k + 1}`),
    ...Array.from({ length: spec.backward }, (_, k) => `backward-${k + 1}`),
];

// Runs in the page (page.evaluate takes one self-contained function): "read"
// what the step shows (and click cells), "step" (wait for the fragment `hash`,
// or `set` it, then read), "walk", "goto" or "sweep" (below).
async function inPage({ op, hash, hashes, clicks, literal, target, set }) {
    const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
    const text = (el) => (el ? el.textContent.trim() : null);
    const visible = (el) => !!el && el.checkVisibility({ visibilityProperty: true, opacityProperty: true });
    const read = () => ({
        hash: location.hash,
        node: text(document.querySelector("#node-name")),
        position: text(document.querySelector("#position")),
        formula: text(document.querySelector("#formula")),
        local_formulas: [...document.querySelectorAll(".local-formula")].map(text),
        blocks: [...document.querySelectorAll("#panel section.tensor-block")].map((b) => ({
            tensor: b.dataset.tensor,
            visible: visible(b),
            summary: b.querySelector("p.summary") !== null,
            cells: [...b.querySelectorAll("td[data-index]")].map((td) => ({
                index: td.dataset.index,
                raw: td.dataset.raw ?? null,
                text: td.textContent.trim(),
                focusable: td.tabIndex >= 0,
            })),
        })),
        overflow: document.documentElement.scrollWidth > document.documentElement.clientWidth,
        images: document.querySelectorAll("img").length,
        onerror: document.querySelectorAll("[onerror]").length,
    });
    // The first, a middle and the last cell of every value and contribution
    // table, clicked, with #worked and the grad table's `from` cells after each.
    const click = () => {
        const out = [];
        for (const b of document.querySelectorAll("#panel section.tensor-block")) {
            const tensor = b.dataset.tensor;
            if (tensor !== "value" && !tensor.startsWith("contribution:")) continue;
            const cells = [...b.querySelectorAll("td[data-index]")];
            if (cells.length === 0) continue;
            for (const k of new Set([0, Math.floor(cells.length / 2), cells.length - 1])) {
                cells[k].click();
                const w = document.querySelector("#worked");
                const result = w && w.querySelector(".result");
                out.push({
                    tensor,
                    index: cells[k].dataset.index,
                    worked: w && {
                        lhs: text(w.querySelector(".lhs")),
                        symbolic: text(w.querySelector(".symbolic")),
                        numeric: text(w.querySelector(".numeric")),
                        result: text(result),
                        result_raw: result ? (result.dataset.raw ?? null) : null,
                        notes: [...w.querySelectorAll(".note")].map((n) => n.textContent),
                    },
                    from: [...document.querySelectorAll('section.tensor-block[data-tensor="grad"] td.from')].map(
                        (td) => td.dataset.index,
                    ),
                });
            }
        }
        return out;
    };
    const send = (how, key = "ArrowRight") => {
        if (how === "next.click()") document.querySelector("#next").click();
        if (how === "keydown event")
            (document.activeElement || document.body).dispatchEvent(
                new KeyboardEvent("keydown", { key, code: key, bubbles: true }),
            );
    };
    // Waits for the fragment `h`; a page that did not move at once gets one more turn to draw.
    const settle = async (h) => {
        if (location.hash === h) return;
        for (let n = 0; n < 200 && location.hash !== h; ++n) await tick();
        await tick();
    };
    const readAll = () => {
        const r = read();
        if (literal) {
            r.title = document.title;
            r.literal = literal.map((t) => document.body.textContent.includes(t));
        }
        if (clicks) r.clicks = click();
        return r;
    };
    if (op === "read") return readAll();
    if (op === "step") {
        if (set) location.hash = hash;
        await settle(hash);
        return readAll();
    }
    // Through `hashes` one after the other, alternately by a keydown event and a click on #next.
    if (op === "walk") {
        const out = [];
        for (const [k, h] of hashes.entries()) {
            const how = k % 2 ? "next.click()" : "keydown event";
            send(how);
            await settle(h);
            out.push({ step: h.slice(1), via: how, ...readAll() });
        }
        return out;
    }
    // ArrowLeft and ArrowRight keydown events until the step `target` (a fragment) shows.
    if (op === "goto") {
        const want = hashes.indexOf(target);
        for (let guard = 0; guard < hashes.length + 2; ++guard) {
            const at = hashes.indexOf(location.hash || hashes[0]);
            if (at === want || at < 0) return at === want;
            send("keydown event", at < want ? "ArrowRight" : "ArrowLeft");
            await settle(hashes[at < want ? at + 1 : at - 1]);
        }
        return false;
    }
    // #next through `hashes`: the steps that overflow the window.
    if (op === "sweep") {
        const over = [];
        for (const h of hashes) {
            send("next.click()");
            await settle(h);
            if (document.documentElement.scrollWidth > document.documentElement.clientWidth) over.push(h);
        }
        return over;
    }
    throw new Error(`no such operation ${op}`);
}

const now = () => performance.now();

// Every step from the first. With `real_input`, real key presses and clicks on
// #next for the first few; otherwise (and then) the same events sent in the
// page: a real one costs 20-100 ms, and the keyboard part tries real ones.
async function walk(page, spec, url) {
    const all = steps(spec);
    const read = { op: "read", clicks: spec.clicks, literal: spec.literal };
    let via = "load";
    // The page without a fragment (its first step), or, when it is already open, the first step's fragment.
    if (spec.real_input || page.url().split("#")[0] !== url) await open(page, url);
    else {
        via = "fragment";
        await page.evaluate(inPage, { op: "step", hash: `#${all[0]}`, set: true });
    }
    const out = [{ step: all[0], via, ...(await page.evaluate(inPage, read)) }];
    const real = spec.real_input ? Math.min(4, all.length - 1) : 0;
    for (let k = 1; k <= real; ++k) {
        const via = k % 2 ? "ArrowRight" : "#next";
        if (via === "ArrowRight") await page.keyboard.press("ArrowRight");
        else await page.click("#next");
        out.push({ step: all[k], via, ...(await page.evaluate(inPage, { ...read, op: "step", hash: `#${all[k]}` })) });
    }
    const rest = all.slice(real + 1).map((h) => `#${h}`);
    out.push(...(await page.evaluate(inPage, { ...read, op: "walk", hashes: rest })));
    return out;
}

// Moves with ArrowLeft and ArrowRight from the current step to `target`.
async function goTo(page, spec, target) {
    const all = steps(spec);
    if (!spec.real_input)
        return page.evaluate(inPage, { op: "goto", hashes: all.map((h) => `#${h}`), target: `#${target}` });
    const want = all.indexOf(target);
    for (let guard = 0; guard < all.length + 2; ++guard) {
        const at = all.indexOf((await page.evaluate(() => location.hash)).slice(1) || all[0]);
        if (at === want || at < 0) return at === want;
        await page.keyboard.press(at < want ? "ArrowRight" : "ArrowLeft");
    }
    return false;
}

// Ticks #predict-first, goes to the step, answers wrong, then right.
// The same in the page, in one go, with events sent in the page: from the step
// before the question's (its fragment loaded), tick, move on, answer.
async function predictInPage({ op, from, target, answers }) {
    const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
    // What the predict-first form and the tensor blocks show.
    const read = () => {
    const f = document.querySelector("form.predict");
    const visible = (el) => !!el && el.checkVisibility({ visibilityProperty: true, opacityProperty: true });
    const fb = f && f.querySelector(".feedback");
    const hint = f && f.querySelector(".hint");
    return {
        form: f && { ...f.dataset, visible: visible(f) },
        question: f && f.querySelector(".question") && f.querySelector(".question").textContent.trim(),
        feedback: fb && { classes: [...fb.classList], text: fb.textContent.trim() },
        hint: f ? visible(hint) : null,
        hint_text: hint ? hint.textContent.trim() : null,
        blocks: [...document.querySelectorAll("#panel section.tensor-block")].map((b) => ({
            tensor: b.dataset.tensor,
            visible: visible(b) && [...b.querySelectorAll("table")].every(visible),
        })),
    };
    };
    if (op === "state") return read();
    const box = document.querySelector("input#predict-first");
    const r = { step: target.slice(1) };
    if (!box) return { ...r, error: "no input#predict-first" };
    location.hash = from;
    for (let n = 0; n < 200 && location.hash !== from; ++n) await tick();
    await tick();
    box.click();
    await tick();
    r.checked = box.checked;
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", code: "ArrowRight", bubbles: true }));
    await tick();
    r.reached = location.hash === target;
    r.before = read();
    if (!r.before.form) return { ...r, error: "no form.predict on the step" };
    const f = r.before.form;
    r.key = `${f.kind}|${f.slot ?? ""}|${f.index ?? ""}`;
    const given = answers[r.key] ?? answers[`${f.kind}||${f.index ?? ""}`];
    if (!given) return { ...r, error: `no answer given for ${r.key}` };
    const answerWith = async (text) => {
        const input = document.querySelector("form.predict input.answer");
        input.value = text;
        input.dispatchEvent(new Event("input", { bubbles: true }));
        document.querySelector("form.predict button.check").click();
        await tick();
        return read();
    };
    r.wrong = await answerWith(given[1]);
    r.right = await answerWith(given[0]);
    box.click();
    await tick();
    r.unchecked = !box.checked;
    return r;
}

async function predict(page, spec, q) {
    const all = steps(spec);
    const k = all.indexOf(q.step);
    if (!spec.real_input && k > 0)
        return page.evaluate(predictInPage, { from: `#${all[k - 1]}`, target: `#${q.step}`, answers: q.answers });
    // Real clicks, typing and key presses.
    const r = { step: q.step };
    const state = () => page.evaluate(predictInPage, { op: "state" });
    const blur = () => page.evaluate(() => document.activeElement && document.activeElement.blur());
    await blur();
    if (!(await page.$("input#predict-first"))) return { ...r, error: "no input#predict-first" };
    const toggle = async () => {
        await page.click("input#predict-first");
        await blur();
        return page.evaluate(() => document.querySelector("input#predict-first").checked);
    };
    r.checked = await toggle();
    // The step from the one before it (or after it), with the mode on.
    await goTo(page, spec, all[k > 0 ? k - 1 : k + 1]);
    r.reached = await goTo(page, spec, q.step);
    r.before = await state();
    if (!r.before.form) return { ...r, error: "no form.predict on the step" };
    const f = r.before.form;
    r.key = `${f.kind}|${f.slot ?? ""}|${f.index ?? ""}`;
    const answers = q.answers[r.key] ?? q.answers[`${f.kind}||${f.index ?? ""}`];
    if (!answers) return { ...r, error: `no answer given for ${r.key}` };
    const answerWith = async (text) => {
        await page.fill("form.predict input.answer", text);
        await page.click("form.predict button.check");
        return state();
    };
    r.wrong = await answerWith(answers[1]);
    r.right = await answerWith(answers[0]);
    r.unchecked = !(await toggle());
    return r;
}

async function keyboard(page, spec, url) {
    await open(page, url);
    const r = { tabs_to_next: null };
    for (let n = 1; n <= 60; ++n) {
        await page.keyboard.press("Tab");
        if (await page.evaluate(() => document.activeElement && document.activeElement.id === "next")) {
            r.tabs_to_next = n;
            break;
        }
    }
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    const hash = () => page.evaluate(() => location.hash);
    r.start = await hash();
    await page.keyboard.press("ArrowRight");
    r.after_right = await hash();
    await page.keyboard.press("ArrowLeft");
    r.after_left = await hash();
    if (r.tabs_to_next !== null) {
        await page.focus("#next");
        await page.keyboard.press("Enter");
        r.after_enter_on_next = await hash();
    }
    return r;
}

// One context and one tab for all pages (a new context costs 100-500 ms): the
// route lets through only the current page's file, and the events go to the
// current page's record.
async function openTab(browser) {
    const tab = { url: null, events: null };
    tab.context = await browser.newContext({ offline: true, viewport: { width: 640, height: 800 } });
    await tab.context.route("**/*", (route) => {
        const u = route.request().url().split("#")[0];
        if (u === tab.url) return route.continue();
        tab.events.aborted.push(u);
        return route.abort();
    });
    const page = await tab.context.newPage();
    page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") tab.events.console.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => tab.events.pageerror.push(String(e)));
    page.on("requestfailed", (r) => tab.events.requestfailed.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on("request", (r) => {
        if (r.url().split("#")[0] !== tab.url) tab.events.requests.push(r.url());
    });
    page.on("dialog", (d) => {
        tab.events.dialog.push(`${d.type()}: ${d.message()}`);
        d.dismiss().catch(() => {});
    });
    tab.page = page;
    return tab;
}

// First paint: the best of three loads, before the other pages are opened
// beside it (the machine is shared).
async function firstPaint(tab, spec) {
    tab.url = pathToFileURL(path.resolve(spec.file)).href;
    tab.events = { console: [], pageerror: [], requestfailed: [], aborted: [], dialog: [], requests: [] };
    const paints = [];
    for (let k = 0; k < 3; ++k) {
        await tab.page.goto("about:blank");
        await open(tab.page, tab.url);
        paints.push(
            await tab.page.evaluate(
                () =>
                    new Promise((resolve) => {
                        new PerformanceObserver((list) => {
                            const e = list.getEntriesByName("first-contentful-paint")[0];
                            if (e) resolve(e.startTime);
                        }).observe({ type: "paint", buffered: true });
                        setTimeout(() => resolve(null), 2000);
                    }),
            ),
        );
    }
    await tab.page.goto("about:blank");
    return paints.includes(null) ? null : Math.min(...paints);
}

async function runPage(tab, spec) {
    const t0 = now();
    const url = pathToFileURL(path.resolve(spec.file)).href;
    const page = tab.page;
    tab.url = url;
    const events = { console: [], pageerror: [], requestfailed: [], aborted: [], dialog: [], requests: [] };
    tab.events = events;
    await page.setViewportSize({ width: 640, height: 800 });
    await page.emulateMedia({ colorScheme: "light" });
    const r = { file: spec.file };
    const phase = (name, t) => ((r.phase_ms ??= {})[name] = Math.round(now() - t));
    phase("setup", t0);
    let tp = now();
    try {
        for (const fragment of spec.direct ?? []) {
            await page.goto("about:blank");
            await open(page, `${url}#${fragment}`);
            (r.direct ??= []).push({ step: fragment, via: "direct", ...(await page.evaluate(inPage, { op: "read" })) });
        }
        phase("loads", tp);
        tp = now();
        if (spec.walk) r.steps = await walk(page, spec, url);
        phase("walk", tp);
        tp = now();
        for (const q of spec.predict ?? []) (r.predict ??= []).push(await predict(page, spec, q));
        phase("predict", tp);
        tp = now();
        if (spec.keyboard) r.keyboard = await keyboard(page, spec, url);
        // The walk ran 640 px wide (80 columns); the phone size here.
        if (spec.layout) {
            await page.setViewportSize({ width: 375, height: 667 });
            const hashes = steps(spec).map((h) => `#${h}`);
            // From the first step (its fragment set), #next through the others.
            await page.evaluate(async (h) => {
                location.hash = h;
                for (let n = 0; n < 200 && location.hash !== h; ++n) await new Promise((r) => setTimeout(r, 0));
                await new Promise((r) => setTimeout(r, 0));
            }, hashes[0]);
            const first = await page.evaluate(inPage, { op: "read" });
            r.phone_overflow = first.overflow ? [hashes[0]] : [];
            r.phone_overflow.push(...(await page.evaluate(inPage, { op: "sweep", hashes: hashes.slice(1) })));
            await page.setViewportSize({ width: 640, height: 800 });
        }
        phase("layout", tp);
        if (spec.dark) {
            r.background = {};
            for (const scheme of ["light", "dark"]) {
                await page.emulateMedia({ colorScheme: scheme });
                r.background[scheme] = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
            }
            await page.emulateMedia({ colorScheme: "light" });
        }
        for (const s of spec.screenshots ?? []) {
            await page.setViewportSize({ width: s.width, height: s.height });
            await page.goto("about:blank");
            await open(page, `${url}#${s.fragment}`);
            await page.screenshot({ path: s.path, fullPage: s.full_page ?? false });
            (r.screenshots ??= []).push({ path: s.path, node: await page.evaluate(() => document.querySelector("#node-name")?.textContent.trim()) });
        }
    } catch (e) {
        r.error = String(e && e.stack ? e.stack : e);
    }
    // What one page stored is not seen by the next (they share the file:// origin).
    await page.evaluate(() => {
        localStorage.clear();
        sessionStorage.clear();
    }).catch(() => {});
    await page.goto("about:blank");
    r.events = events;
    r.ms = Math.round(now() - t0);
    return r;
}

const t0 = now();
const browser = await chromium.launch({
    executablePath: process.env.BNSTEP_CHROMIUM || "/usr/bin/chromium",
    headless: true,
});
// Two tabs, each in its own context, take the pages in turn: the machine has two cores.
const tabs = Number(process.env.BNSTEP_BROWSER_TABS || 2);
const pages = [];
try {
    const first = await openTab(browser);
    const paints = [];
    for (const spec of job.pages) paints.push(spec.paint ? await firstPaint(first, spec) : undefined);
    const workers = [first];
    while (workers.length < Math.min(tabs, job.pages.length)) workers.push(await openTab(browser));
    let next = 0;
    await Promise.all(
        workers.map(async (tab) => {
            for (let k = next++; k < job.pages.length; k = next++) {
                pages[k] = await runPage(tab, job.pages[k]);
                if (paints[k] !== undefined) pages[k].first_contentful_paint_ms = paints[k];
            }
        }),
    );
} finally {
    await browser.close();
}
process.stdout.write(JSON.stringify({ browser: browser.version(), pages, ms: Math.round(now() - t0) }) + "\n");
