// Package generator compiles the facts of one Skype for Business Server
// or Lync Server 2013 Back End or Standard Edition server into the patch
// script that carries out Microsoft's procedure, the reviewer's runbook
// and the JSON plan. It is a small compiler, in four stages:
//
//	facts    Facts, from flags, a facts file (DecodeFacts) or an inventory row
//	validate Validate: every problem at once, as Problems
//	plan     BuildPlan: the Plan, the one description of what the script does,
//	         from the tables in products.go, editions.go and facts.go
//	render   Render / RenderScript / RenderRunbook / RenderJSON: the outputs,
//	         from the templates of package templates, escaping every value
//	         with PSQuote, CommentText, MarkdownText or MarkdownCode
//
// Generate runs the stages from facts to bytes, rendering each output
// from its plan with no cache. Writing files is the command's (cmd/sfbpatch). Verify runs the pipeline in reverse: it reads
// a script's header, generates the script again from the facts there, and
// compares.
package generator
