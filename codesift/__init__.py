"""codesift's command line: `codesift up` supervises the stack; every other command talks to it over NATS."""
