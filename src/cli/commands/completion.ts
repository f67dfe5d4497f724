import type { Command, OptionSpec } from '../command.ts';
import { usageError } from '../errors.ts';

// Shell completion: `source <(confighub completion bash)`, or for zsh `source <(confighub completion zsh)`
// (bash's completion through zsh's bashcompinit). Commands, their actions and options are written into
// the script: completing never starts the CLI.

function optionWords(options: Record<string, OptionSpec>): string[] {
  return Object.entries(options).flatMap(([name, spec]) => [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])]);
}

/** The options that take a value (the next word), as a case pattern. */
function valued(options: Record<string, OptionSpec>): string {
  return optionWords(Object.fromEntries(Object.entries(options).filter(([, spec]) => spec.type === 'string'))).join('|');
}

export function bashCompletion(commands: Command[], common: Record<string, OptionSpec>): string {
  const cases = commands
    .map((command) => `    ${command.name}) actions="${(command.actions ?? []).join(' ')}"; options="${optionWords(command.options ?? {}).join(' ')}" ;;`)
    .join('\n');
  return `# confighub completion for bash (zsh: autoload -U +X bashcompinit && bashcompinit first)
_confighub() {
  local current="\${COMP_WORDS[COMP_CWORD]}" command="" word actions="" options="" skip=""
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case "$word" in
      ${valued(common)}) skip=1 ;;
      -*) ;;
      *) command="$word"; break ;;
    esac
  done
  local common="${optionWords(common).join(' ')}"
  if [ -z "$command" ]; then
    COMPREPLY=( $(compgen -W "${commands.map((command) => command.name).join(' ')} help $common" -- "$current") )
    return
  fi
  case "$command" in
${cases}
  esac
  if [[ "$current" == -* ]]; then
    COMPREPLY=( $(compgen -W "$options $common" -- "$current") )
  elif [ "\${COMP_WORDS[COMP_CWORD-1]}" = "$command" ] && [ -n "$actions" ]; then
    COMPREPLY=( $(compgen -W "$actions" -- "$current") )
  else
    COMPREPLY=( $(compgen -f -- "$current") )
  fi
}
complete -o default -F _confighub confighub
`;
}

export function completionCommand(commands: Command[], common: Record<string, OptionSpec>): Command {
  return {
    name: 'completion',
    usage: 'completion bash|zsh',
    actions: ['bash', 'zsh'],
    summary: 'print the shell completion script: source <(confighub completion bash)',
    async run(context) {
      const [shell, extra] = context.args;
      if (extra !== undefined) throw usageError(`unexpected argument "${extra}"`);
      if (shell !== 'bash' && shell !== 'zsh') throw usageError('completion needs "bash" or "zsh"');
      const script = bashCompletion(commands, common);
      process.stdout.write(shell === 'zsh' ? `autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${script}` : script);
    },
  };
}
