// chat.js - the browser side of chapter 08's chat: one WebSocket to
// /ws, lines of tab-separated fields (chat.h lists them). ?room=R&name=N
// joins at once.
"use strict";

const $ = (id) => document.getElementById(id);
const members = new Set();
let ws = null;
let me = null;

function show(text, kind) {
	const li = document.createElement("li");
	li.textContent = text;
	if (kind)
		li.className = kind;
	$("log").appendChild(li);
	li.scrollIntoView();
}

function showMembers() {
	$("members").textContent = [...members].sort().join(", ");
}

function onLine(line) {
	const f = line.split("\t");
	switch (f[0]) {
	case "joined":		// joined ROOM NAME N
		members.clear();
		members.add(f[2]);
		showMembers();
		$("status").textContent = `in ${f[1]} as ${f[2]} (${f[3]} here)`;
		break;
	case "presence":	// presence ROOM NAME join|leave
		if (f[3] === "join")
			members.add(f[2]);
		else
			members.delete(f[2]);
		showMembers();
		show(`${f[2]} ${f[3] === "join" ? "joined" : "left"}`, "presence");
		break;
	case "msg":		// msg ROOM NAME TEXT...
		members.add(f[2]);
		showMembers();
		show(`${f[2]}: ${f.slice(3).join("\t")}`, "msg");
		break;
	case "error":
		show(`error: ${f[1]}`, "error");
		break;
	}
}

function join(room, name) {
	me = name;
	if (ws && ws.readyState === WebSocket.OPEN) {
		ws.send(`join\t${room}\t${name}`);
		return;
	}
	ws = new WebSocket(`ws://${location.host}/ws`);
	$("status").textContent = "connecting";
	ws.onopen = () => ws.send(`join\t${room}\t${name}`);
	ws.onmessage = (ev) => onLine(ev.data);
	ws.onclose = (ev) => {
		$("status").textContent = `closed (${ev.code}${ev.reason ? " " + ev.reason : ""})`;
	};
}

function say(text) {
	if (ws && ws.readyState === WebSocket.OPEN && text !== "")
		ws.send(`msg\t${text}`);
}

$("joinform").addEventListener("submit", (ev) => {
	ev.preventDefault();
	join($("room").value, $("name").value);
});
$("sayform").addEventListener("submit", (ev) => {
	ev.preventDefault();
	say($("text").value);
	$("text").value = "";
});

const q = new URLSearchParams(location.search);
if (q.get("room") && q.get("name")) {
	$("room").value = q.get("room");
	$("name").value = q.get("name");
	join(q.get("room"), q.get("name"));
}
