/**
 * One line per farm command, for `flashfarm --help`. Kept apart from the
 * commands themselves so the help screen loads nothing else.
 */
export const FARM_COMMAND_SUMMARIES = {
  submit: 'upload firmware, flash matching farm boards, stream logs (--wait)',
  devices: 'list the boards of the farm',
  jobs: 'list jobs, or show one',
  logs: "print a run's log (--follow streams it live)",
  cancel: 'cancel a job',
  token: 'create an api token (through the api, or on the database)',
  station:
    'a station campaign: start the next fixture cycle (station next), name the operator (station operator)',
  campaign: "add per-unit CSV rows to a campaign's data (campaign csv CAMPAIGN FILE)",
  agent: 'check this host before starting an agent on it (agent doctor): api, token, queue, serial ports',
} as const;

/** The farm commands' names. */
export type FarmCommandName = keyof typeof FARM_COMMAND_SUMMARIES;
