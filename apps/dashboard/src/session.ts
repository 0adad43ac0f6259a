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

/** Kept beside the token in sessionStorage, so a reload does not wait for GET /whoami before drawing. */
const WHOAMI_KEY = 'flashfarm.whoami';

let who: WhoamiView | undefined;

/** Remembers the signed-in token (undefined on sign-out). */
export function setWhoami(view: WhoamiView | undefined): void {
  who = view;
  if (view) sessionStorage.setItem(WHOAMI_KEY, JSON.stringify(view));
  else sessionStorage.removeItem(WHOAMI_KEY);
}

/** The signed-in token, once known (from this page or from the tab's earlier pages). */
export function whoami(): WhoamiView | undefined {
  if (!who) {
    const kept = sessionStorage.getItem(WHOAMI_KEY);
    if (kept) who = JSON.parse(kept) as WhoamiView;
  }
  return who;
}

/** Whether the signed-in role may take `action`. */
export function can(action: Action): boolean {
  if (!who) return false;
  return who.role === 'admin' || (ALLOWED[action] as readonly string[]).includes(who.role);
}
