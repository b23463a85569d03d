import type { Command, Option } from 'commander';

export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

interface CommandNode {
  path: string;
  words: string[];
}

/**
 * A completion script generated from the command tree itself, so it never drifts from the commands: after
 * `certctl` it offers the commands, after a command its subcommands and options, after an option with fixed
 * values (`--output`, `--reason`, ...) those values. zsh runs the same function through bashcompinit.
 */
export function completionScript(program: Command, shell: CompletionShell): string {
  const nodes: CommandNode[] = [];
  const valueOptions = new Set<string>();
  /** `--output|-o` → its values (commander keeps choices per option). */
  const choices = new Map<string, string[]>();
  const visit = (command: Command, path: string, inherited: readonly Option[]) => {
    const options = [...inherited, ...command.options];
    for (const option of command.options) {
      if (option.required || option.optional) {
        if (option.long) valueOptions.add(option.long);
        if (option.short) valueOptions.add(option.short);
        if (option.argChoices) choices.set([option.long, option.short].filter(Boolean).join('|'), option.argChoices);
      }
    }
    const sub = command.commands.filter((c) => c.name() !== 'help');
    nodes.push({ path, words: [...sub.map((c) => c.name()), ...options.map((o) => o.long).filter((l): l is string => !!l), '--help'] });
    for (const child of sub) visit(child, path ? `${path} ${child.name()}` : child.name(), options);
  };
  visit(program, '', []);
  const shellChoices = new Map([['completion', [...COMPLETION_SHELLS]]]);

  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const knownPaths = nodes.filter((n) => n.path).map((n) => quote(n.path)).join('|');
  const wordsByPath = nodes.map((n) => `    ${quote(n.path)}) words=${quote([...n.words, ...(shellChoices.get(n.path) ?? [])].join(' '))} ;;`).join('\n');
  const choiceCases = [...choices].map(([flags, values]) => `    ${flags}) COMPREPLY=( $(compgen -W ${quote(values.join(' '))} -- "$cur") ); return ;;`).join('\n');
  const takesValue = [...valueOptions].join('|');

  const bash = `# certctl ${shell} completion: eval "$(certctl completion ${shell})" (or save it where your shell loads completions)
_certctl_completion() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" path="" words="" i w skip=0
  [ "$COMP_CWORD" -gt 0 ] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${choiceCases}
    ${takesValue}) COMPREPLY=(); return ;;
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$w" in
      ${takesValue}) skip=1 ;;
      -*) ;;
      *) case "\${path:+$path }$w" in ${knownPaths}) path="\${path:+$path }$w" ;; esac ;;
    esac
  done
  case "$path" in
${wordsByPath}
    *) words="" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -F _certctl_completion certctl
`;
  if (shell === 'bash') return bash;
  return `autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
}
