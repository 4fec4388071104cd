// Webhooks (`/api/webhooks`, shared secret only): the calls the Webhooks
// tab makes, over the same `call` as the rest of the API.

import type { components } from './api-types.gen';
import { call } from './api';

type Schemas = components['schemas'];
export type Webhook = Schemas['WebhookView'];
export type WebhookRequest = Schemas['WebhookRequest'];
export type WebhookEvent = Schemas['WebhookEvent'];
export type WebhookFormat = Schemas['WebhookFormat'];
export type Delivery = Schemas['DeliveryView'];

/** Events an operator can subscribe to (`test` is sent on request only). */
export const EVENTS: { id: WebhookEvent; label: string }[] = [
  { id: 'permission_waiting', label: 'Permission waiting (with an approval link)' },
  { id: 'worker_blocked', label: 'Worker blocked by a screen' },
  { id: 'worker_exited', label: 'Worker exited' },
  { id: 'reply', label: 'Worker replied' },
  { id: 'rule_decision', label: 'Prompt answered by a rule or expiry' },
];

const hook = (id: string) => `/api/webhooks/${encodeURIComponent(id)}`;

export const webhooks = {
  list: async () => (await call<Schemas['WebhooksResponse']>('GET', '/api/webhooks')).webhooks,
  add: (r: WebhookRequest) => call<Webhook>('POST', '/api/webhooks', r),
  update: (id: string, r: WebhookRequest) => call<Webhook>('PUT', hook(id), r),
  remove: (id: string) => call('DELETE', hook(id)),
  test: (id: string) => call<Schemas['WebhookTestResponse']>('POST', `${hook(id)}/test`, {}),
  deliveries: async (id: string) =>
    (await call<Schemas['DeliveriesResponse']>('GET', `${hook(id)}/deliveries?limit=50`)).deliveries,
};
