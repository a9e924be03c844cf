// Type-checks the dashboards in ../dashboards against @grafana/schema's `Dashboard` type.
// Run: `npm ci && npx tsc --noEmit -p .` (tests/monitoring.rs does this when npm exists).
//
// TypeScript types an imported JSON file with widened literals: `"type": "timeseries"` becomes
// `string`, `"graphTooltip": 1` becomes `number`. The schema types some of those fields with
// string enums (FieldColorModeId, ThresholdsMode, MappingType, ...), numeric enums
// (VariableRefresh, DashboardCursorSync, ...) or literal unions (VariableType, `"row"`), which a
// widened `string`/`number` can never satisfy. So each board is checked twice:
//
//   1. `Json<Dashboard>`: the schema with exactly those literal types widened to their base
//      type (string, number, boolean) and nothing else changed: required fields stay required,
//      objects, arrays, optionality and the Panel | RowPanel union are kept.
//   2. `Exact<Board, Dashboard>`: every key of the board, at any depth, must be a key the schema
//      declares there (JSON imports are not fresh object literals, so TypeScript's excess
//      property check would not catch a misspelt or unknown key). Where the schema says
//      `Record<string, unknown>` or `unknown` (panel options, targets, custom field config,
//      transformation options) any key is fine.
//
// The values of the widened fields (panel and variable types, color and threshold modes,
// mapping types) are checked by tests/monitoring.rs against the accepted sets.

import type { Dashboard } from "@grafana/schema";

import overview from "../dashboards/ldk-server-overview.json" with { type: "json" };
import payments from "../dashboards/ldk-server-payments.json" with { type: "json" };
import channels from "../dashboards/ldk-server-channels.json" with { type: "json" };
import api from "../dashboards/ldk-server-api.json" with { type: "json" };

/** `T` as it reads from JSON: literal and enum types widened to their base type. */
type Json<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends null | undefined
        ? T
        : T extends ReadonlyArray<infer E>
          ? Array<Json<E>>
          : T extends object
            ? { [K in keyof T]: Json<T[K]> }
            : T;

/** Every key of every member of a union. */
type KeysOf<T> = T extends unknown ? keyof T : never;

/** The type of key `K` in whichever members of the union `S` declare it. */
type At<S, K extends PropertyKey> = S extends unknown ? (K extends keyof S ? S[K] : never) : never;

/** `A` with every key the schema `S` does not declare (at that depth) turned into `never`. */
type Exact<A, S> = A extends ReadonlyArray<infer E>
  ? NonNullable<S> extends ReadonlyArray<infer SE>
    ? Array<Exact<E, SE>>
    : never
  : A extends object
    ? unknown extends S
      ? A
      : string extends KeysOf<NonNullable<S>>
      ? A
      : {
          [K in keyof A]: K extends KeysOf<NonNullable<S>> ? Exact<A[K], At<NonNullable<S>, K>> : never;
        }
    : A;

/** Compiles only if `board` fits the schema (1) and has no key the schema lacks (2). */
function check<B extends Json<Dashboard>>(board: B & Exact<B, Dashboard>): Json<Dashboard> {
  return board;
}

export const boards: Array<Json<Dashboard>> = [check(overview), check(payments), check(channels), check(api)];
