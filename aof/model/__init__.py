"""What the files of a fleet root mean: the task model and its rules, aof.yaml, the text
sections of a body, the shapes of JSON results, packaged resources. Pure: no git, no audit."""
