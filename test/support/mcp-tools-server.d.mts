// Types of the test tool server (plain JavaScript so a stdio child starts in a fraction of a second, without tsx).
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';

export const POISONED: string;
export const INJECTED_PAGE: string;
export const AWS_KEY: string;
export function toolsServer(opts?: { name?: string; state?: string; calls?: string; onCrash?: () => void }): Server;
