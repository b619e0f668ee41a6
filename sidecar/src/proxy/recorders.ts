import type { RecordingSettings } from '@pgwarden/crds';
import type { Logger } from '../observe/log.js';
import { Recorder } from '../record/recorder.js';
import { sidecarVersion } from '../version.js';

/** Opens the recorder of a policy's spec.recording on `spoolDir`. */
export async function openRecorder(
  settings: RecordingSettings,
  spoolDir: string,
  log: Logger,
): Promise<Recorder> {
  const recorder = await Recorder.open({
    settings,
    spoolDir,
    sidecarVersion: sidecarVersion(),
    log: log.child({ component: 'recorder' }),
  });
  log.info({ spoolDir, sink: settings.sink.type, includeRows: settings.includeRows }, 'recording sessions');
  return recorder;
}
