package io.nydus.testkit;

import java.io.IOException;

/** A command that exited with a non-zero status or ran past its timeout. */
public final class CommandException extends IOException {

    private static final long serialVersionUID = 1L;

    private final transient CommandResult result;

    CommandException(String message, CommandResult result) {
        super(message);
        this.result = result;
    }

    /** Returns the command's exit code and output, or null when it timed out. */
    public CommandResult result() {
        return result;
    }
}
