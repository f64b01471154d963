// What every view is given: the API, the live stream, who is signed in, and a way to tell the person something.
import type { Me } from '../wire.ts';
import type { Api } from './api.ts';
import type { Live } from './live.ts';

export interface Ctx {
  api: Api;
  live: Live;
  me: Me;
  isAdmin: boolean;
  toast(message: string, tone?: 'ok' | 'error'): void;
  navigate(hash: string): void;
  /** Lets the shell show a count (pending approvals) in the navigation. */
  setBadge(view: string, count: number): void;
}

/** A mounted view: its root element and what to undo when the person leaves it. */
export interface View {
  el: HTMLElement;
  dispose(): void;
}

export type ViewFactory = (ctx: Ctx, params: string[]) => View;
