// Wire shapes of the hub's JSON API, named for the UI. They are generated:
// api-types.gen.ts comes from openapi.json (what the hub serves at
// /api/openapi.json; `make openapi` refreshes both), so a change on the hub
// side shows up here as a type error, not at run time.

import type { components } from './api-types.gen';

type Schemas = components['schemas'];

export type WorkerStateName = Schemas['WorkerState'];
export type Presence = Schemas['Presence'];
export type StateReason = Schemas['StateReason'];
/** A roster row (`GET /api/workers`, `GET /api/workers/{w}`). */
export type Worker = Schemas['WorkerSummary'];
export type PendingPermission = Schemas['PendingPermission'];
export type Flow = Schemas['Flow'];
export type FlowSave = Schemas['FlowSaveRequest'];
export type FlowSaveResponse = Schemas['FlowSaved'];
export type FlowRunResponse = Schemas['RunStarted'];
export type TimelineEvent = Schemas['Event'];
export type EventKind = Schemas['EventKind'];
/** `POST /api/workers/{w}/send`: the message is on disk. */
export type SendReceipt = Schemas['SendReceipt'];
/** `GET /api/workers/{w}/status`. */
export type WorkerStatus = Schemas['WorkerStatus'];
export type RunLog = Schemas['RunLog'];
export type HubSettings = Schemas['HubConfig'];
export type SettingsPatch = Schemas['SettingsPatch'];
export type Health = Schemas['Health'];
export type WorkersResponse = Schemas['WorkersResponse'];
export type PurgeResponse = Schemas['PurgeResponse'];
export type EventsResponse = Schemas['EventsResponse'];
export type PermissionsResponse = Schemas['PermissionsResponse'];
export type FlowsResponse = Schemas['FlowsResponse'];
export type RunResponse = Schemas['RunResponse'];
export type ResolveResponse = Schemas['ResolveResponse'];
export type TicketResponse = Schemas['PtyTicket'];
export type StreamTicket = Schemas['StreamTicket'];
/** A permission rule (`/api/rules`): first match wins. */
export type PermissionRule = Schemas['PermissionRule'];
export type RuleVerdict = Schemas['RuleVerdict'];
export type RulesList = Schemas['RulesList'];
export type RuleDecision = Schemas['RuleDecision'];
export type RuleTestRequest = Schemas['RuleTestRequest'];
