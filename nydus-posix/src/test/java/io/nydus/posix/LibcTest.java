package io.nydus.posix;

import static io.nydus.posix.Libc.INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.Test;

class LibcTest {

    @Test
    void lazyHandleOfMissingFunctionFailsOnGet() {
        Libc.LazyHandle missing =
                Libc.lazyFunction("nydus_no_such_function", Libc.descriptor(INT, INT));

        var e = assertThrows(UnsupportedOperationException.class, missing::get);
        assertTrue(e.getMessage().contains("nydus_no_such_function"), e.getMessage());
    }

    @Test
    void lazyHandleLinksOnceAndCalls() throws Throwable {
        Libc.LazyHandle umask = Libc.lazyPlain("umask", Libc.descriptor(INT, INT));

        MethodHandle first = umask.get();
        int previous = (int) first.invokeExact(022);
        int restored = (int) umask.get().invokeExact(previous);

        assertSame(first, umask.get());
        assertEquals(022, restored);
    }
}
