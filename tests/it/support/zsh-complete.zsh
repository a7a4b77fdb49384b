# zsh's own answer to a Tab after the given words: an interactive zsh in a pseudo-terminal
# (zpty) with compinit and the script under test, compadd wrapped to print each candidate it
# is given. Ctrl-X after the Tab (a widget, so it runs after the completion) ends the session.
zmodload zsh/zpty
script=$1; shift
zpty z zsh -f -i
zpty -w z "PROMPT=''; autoload -Uz compinit; compinit -u -D; source ${(q)script}"
zpty -w z 'compadd() { builtin compadd -O __hits "$@"; print -rl -- ${__hits/#/CANDIDATE:}; builtin compadd "$@" }'
zpty -w z 'finish() { BUFFER="print -r -- DO""NE; exit"; zle accept-line }; zle -N finish; bindkey "^X" finish'
zpty -w z 'zstyle ":completion:*" menu no; bindkey "^I" complete-word; print -r -- RE""ADY'
until [[ $line == *READY* ]]; do zpty -r z line || exit 2; done
zpty -w -n z "$*"$'\t\x18'
out=
until [[ $line == *DONE* ]]; do zpty -r z line || break; out+=$line; done
print -r -- $out | tr -d '\r' | grep -ao 'CANDIDATE:[^[:space:]]*' | sed 's/CANDIDATE://' | sort -u
