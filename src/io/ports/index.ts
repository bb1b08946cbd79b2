// The MIDI-port side of the server. Importing this loads no native code: easymidi is imported
// by createEasymidiBackend/openMidiPorts/listMidiPorts, and only when they are called.

export type { MidiBackend, MidiInputPort, MidiOutputPort, PortClosed, PortLogger } from './types.ts';
export { silentLogger, stderrLogger } from './types.ts';
export { bindSessionToPorts, type BindOptions, type PortBinding } from './bind-session.ts';
export { openMidiPorts, wantsPorts, DEFAULT_VIRTUAL_NAME, type MidiPortsRequest, type OpenedPorts } from './open-ports.ts';
export { createEasymidiBackend, EASYMIDI_DEFAULTS, type EasymidiBackendOptions } from './easymidi-backend.ts';
export { loadEasymidi, ALSA_SEQ_DEVICE, type MidiSystem } from './load-easymidi.ts';
export { matchPortName } from './match-port.ts';
export { splitInput, checkChannelFilter, type ChannelFilter, type InputStreams } from './input-streams.ts';
export { NoteSink, NOTE_SINK_DEFAULTS, type NoteSinkOptions } from './note-sink.ts';
export { EchoFilter, ECHO_DEFAULTS, type EchoFilterOptions } from './echo-filter.ts';
export { installPanicHandlers, panicAll, registerPanic, registeredPanicCount } from './panic-registry.ts';
export { listMidiPorts, type PortList } from './list-ports.ts';
export { startMidiDuet, type MidiDuet, type MidiDuetConfig, type StartMidiDuetOptions } from './start-midi-duet.ts';
