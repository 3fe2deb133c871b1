// Parses a GIFT file with gift-pegjs (the npm package, a PEG grammar of
// Moodle's GIFT format) and prints what it read as JSON, for
// tests/test_quiz_export.cpp. The HTML of each text is turned into plain
// text (tags dropped, <br> and block ends as newlines, character references
// decoded) so that the test can compare it with the quiz's own strings.
//   node gift_parse.js NODE_MODULES_DIR FILE.gift...
// prints one list per file: [[question, ...], ...]
"use strict";
const fs = require("fs");
const path = require("path");

const [modules, ...files] = process.argv.slice(2);
const gift = require(path.join(modules, "gift-pegjs"));

function plain(rich) {
    if (rich === null || rich === undefined) return null;
    const text = typeof rich === "string" ? rich : rich.text;
    return text
        .replace(/<br>|<\/p>|<\/pre>|<\/caption>|<\/tr>/g, "\n")
        .replace(/<[^>]*>/g, "")
        .replace(/&#x([0-9a-fA-F]+);/g, (_, h) => String.fromCodePoint(parseInt(h, 16)))
        .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, "&");
}

function answer(choice) {
    const t = choice.text;
    const out = {correct: choice.isCorrect, weight: choice.weight, feedback: plain(choice.feedback)};
    if (t.type === "range") Object.assign(out, {kind: "range", number: t.number, range: t.range});
    else if (t.type === "high-low") Object.assign(out, {kind: "high-low", low: t.numberLow, high: t.numberHigh});
    else if (t.type === "simple") Object.assign(out, {kind: "simple", number: t.number});
    else Object.assign(out, {kind: "other", text: t.text});
    return out;
}

function questions(file) {
    let parsed;
    try {
        parsed = gift.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        const where = e.location ? ` at line ${e.location.start.line}, column ${e.location.start.column}` : "";
        console.error(`gift-pegjs: ${file}${where}: ${e.message}`);
        process.exit(1);
    }
    const out = [];
    let category = null;
    for (const q of parsed) {
        if (q.type === "Category") {
            category = q.title;
            continue;
        }
        out.push({
            type: q.type,
            category: category,
            title: q.title,
            format: q.stem.format,
            stem: plain(q.stem),
            general: plain(q.globalFeedback),
            answers: Array.isArray(q.choices) ? q.choices.map(answer) : [],
        });
    }
    return out;
}

console.log(JSON.stringify(files.map(questions)));
