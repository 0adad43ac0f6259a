/**
 * Who is signed in (GET /whoami) and what that role may do, so pages offer
 * only the actions the api would accept from it. The api enforces the roles
 * itself; this only keeps buttons away from people who cannot use them.
 */
import type { WhoamiView } from '#contracts';

/** The actions the dashboard offers, and the roles the api accepts each from (admin may do everything). */
const ALLOWED = {
  createJob: ['ci', 'operator'],
  cancelJob: ['ci', 'operator'],
  uploadFirmware: ['ci', 'operator'],
  editDevice: ['operator'],
  runCampaign: ['operator'],
} as const;

/** An action of the dashboard that some roles may not take. */
export type Action = keyof typeof ALLOWED;

let who: WhoamiView | undefined;

/** Remembers the signed-in token (undefined on sign-out). */
export function setWhoami(view: WhoamiView | undefined): void {
  who = view;
}

/** The signed-in token, once known. */
export function whoami(): WhoamiView | undefined {
  return who;
}

/** Whether the signed-in role may take `action`. */
export function can(action: Action): boolean {
  if (!who) return false;
  return who.role === 'admin' || (ALLOWED[action] as readonly string[]).includes(who.role);
}
