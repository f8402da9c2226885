"""What codesift's services share: message schemas, subjects, stream definitions, settings, metrics."""
