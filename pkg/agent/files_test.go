package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hermes-gateway/hermes/pkg/config"
)

func jsonAgent(t *testing.T, body string) Agent {
	t.Helper()
	return newTestExec(t, script(t, body), func(x *config.Exec) { x.Output = config.ExecOutputJSON })
}

// An exec agent with agent.exec.output = "json" answers with text and
// files; what is wrong with an answer is said precisely.
func TestExecAnswersWithFiles(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report.csv")
	require.NoError(t, os.WriteFile(report, []byte("a,b\n"), 0o600))
	ag := jsonAgent(t, `printf '{"text":"Here it is","files":[{"path":"`+report+`","caption":"the report"},{"path":"`+report+`","kind":"photo"}]}'`)
	fa := ag.(FileAgent)
	require.True(t, fa.AnswersWithFiles())
	a, err := fa.ReplyFiles(context.Background(), Turn{Text: "report please"})
	require.NoError(t, err)
	require.Equal(t, Answer{Text: "Here it is", Files: []OutFile{
		{Path: report, Kind: FileDocument, Caption: "the report"}, {Path: report, Kind: FilePhoto}}}, a)

	// Where files cannot go (the local chat), the text says what was left out.
	got, err := ag.Reply(context.Background(), Turn{Text: "report please"})
	require.NoError(t, err)
	require.Equal(t, "Here it is\n\n(2 file(s) not shown here: report.csv, report.csv)", got)

	// A JSON document is not streamed line by line.
	var parts []string
	_, err = ag.(Streamer).Stream(context.Background(), Turn{Text: "q"}, func(p string) { parts = append(parts, p) })
	require.NoError(t, err)
	require.Empty(t, parts)

	require.False(t, newTestExec(t, script(t, "echo hi"), nil).(FileAgent).AnswersWithFiles(), `"text" is the default`)

	for name, tc := range map[string]struct{ out, want string }{
		"not JSON":      {`echo plain words`, "stdout is not a JSON object"},
		"relative path": {`echo '{"files":[{"path":"report.csv"}]}'`, `files[0].path "report.csv": give an absolute path`},
		"missing":       {`echo '{"files":[{"path":"/nonexistent/x.pdf"}]}'`, "no such file or directory"},
		"a directory":   {`echo '{"files":[{"path":"` + dir + `"}]}'`, "is not a regular file"},
		"unknown kind":  {`echo '{"files":[{"path":"` + report + `","kind":"video"}]}'`, `files[0].kind "video"`},
	} {
		_, err := jsonAgent(t, tc.out).(FileAgent).ReplyFiles(context.Background(), Turn{Text: "q"})
		require.ErrorContains(t, err, tc.want, name)
		require.Equal(t, "⚠️ The agent's answer could not be read; the gateway's journal has the details.", UserMessage(err), name)
	}
	_, err = jsonAgent(t, `echo '{"text":"  "}'`).(FileAgent).ReplyFiles(context.Background(), Turn{Text: "q"})
	require.Equal(t, UserEmpty, UserMessage(err))
}
