/**
 * The simulator's trace: one line per event, the last few kept for reports
 * and a digest of all of them, so two runs of one seed can be compared
 * without keeping every line.
 * @module
 */
import type { Message } from "../kernel/messages.ts";

/** Keeps the tail of a run's event lines and a digest of all of them. */
export class Trace {
  readonly #limit: number;
  #lines: string[] = [];
  #start = 0;
  #hash = 0x811c9dc5;
  #count = 0;

  /** Keeps the last `limit` lines (`Infinity` keeps all). */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Appends a line. */
  add(line: string): void {
    let h = this.#hash;
    for (let i = 0; i < line.length; i++) {
      h = Math.imul(h ^ line.charCodeAt(i), 16777619);
    }
    this.#hash = Math.imul(h ^ 10, 16777619) >>> 0;
    this.#count++;
    if (this.#limit <= 0) return;
    this.#lines.push(line);
    // Trim in chunks so keeping a tail stays O(1) amortized.
    if (this.#lines.length - this.#start > this.#limit) {
      this.#start++;
      if (this.#start > 1024) {
        this.#lines = this.#lines.slice(this.#start);
        this.#start = 0;
      }
    }
  }

  /** The kept lines, oldest first. */
  lines(): string[] {
    return this.#lines.slice(this.#start);
  }

  /** A digest of every line added (FNV-1a, hex) and how many there were. */
  get digest(): string {
    return `${this.#count}:${this.#hash.toString(16).padStart(8, "0")}`;
  }
}

/** A one-line description of a message for traces. */
export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} `;
  switch (m.type) {
    case "append": {
      const n = m.entries.length;
      const span = n === 0
        ? "heartbeat"
        : `[${m.entries[0].index}..${m.entries[n - 1].index}]`;
      return `${head}append t${m.term} prev=${m.prevLogIndex}/${m.prevLogTerm} ${span} commit=${m.leaderCommit} seq=${m.seq}`;
    }
    case "appendReply":
      return `${head}appendReply t${m.term} ${
        m.success
          ? `ok match=${m.matchIndex}`
          : `reject ${m.rejectedIndex} hint=${m.hintIndex}/${m.hintTerm}`
      } seq=${m.seq}`;
    case "vote":
      return `${head}${
        m.preVote ? "preVote" : "vote"
      } t${m.term} last=${m.lastLogIndex}/${m.lastLogTerm}${
        m.transfer ? " transfer" : ""
      }`;
    case "voteReply":
      return `${head}${m.preVote ? "preVoteReply" : "voteReply"} t${m.term} ${
        m.granted ? "granted" : "refused"
      }`;
    case "timeoutNow":
      return `${head}timeoutNow t${m.term}`;
    case "propose":
      return `${head}propose #${m.requestId}`;
    case "readIndex":
      return `${head}readIndex #${m.requestId}`;
    case "readIndexReply":
      return `${head}readIndexReply #${m.requestId} ${
        m.refused === null ? `at ${m.index}` : m.refused
      }`;
    case "proposeReply":
      return `${head}proposeReply #${m.requestId} ${
        m.refused === null ? `at ${m.index}/${m.entryTerm}` : m.refused
      }`;
    case "snapshot":
      return `${head}snapshot t${m.term} at ${m.lastIncludedIndex}/${m.lastIncludedTerm} bytes ${m.offset}+${m.data.length}${
        m.done ? " done" : ""
      }`;
    case "snapshotReply":
      return `${head}snapshotReply t${m.term} at ${m.lastIncludedIndex} offset ${m.offset}${
        m.done ? " done" : ""
      }`;
  }
}
