package io.nydus.posix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Expected values were computed with glibc's makedev, major and minor. */
class DevicesTest {

    @Test
    void makedevSmallNumbers() {
        assertEquals(0x801L, Devices.makedev(8, 1));
    }

    @Test
    void makedevLargestKernelNumbers() {
        assertEquals(0xffff_ffffL, Devices.makedev(4095, 1048575));
    }

    @Test
    void makedevFullWidth() {
        assertEquals(0x7ffff12345600578L, Devices.makedev(0x7ffff005L, 0x12345678L));
    }

    @Test
    void majorAndMinorOfFullWidth() {
        long dev = 0xfedcba9876543210L;
        assertEquals(4275876914L, Devices.major(dev));
        assertEquals(2844222736L, Devices.minor(dev));
    }

    @Test
    void roundTrip() {
        long[] numbers = {0, 1, 255, 256, 4095, 4096, 1048575, 0xffff_ffffL};
        for (long major : numbers) {
            for (long minor : numbers) {
                long dev = Devices.makedev(major, minor);
                assertEquals(major, Devices.major(dev), "major of " + major + ":" + minor);
                assertEquals(minor, Devices.minor(dev), "minor of " + major + ":" + minor);
            }
        }
    }

    @Test
    void makedevRejectsOutOfRange() {
        assertThrows(IllegalArgumentException.class, () -> Devices.makedev(-1, 0));
        assertThrows(IllegalArgumentException.class, () -> Devices.makedev(0, 1L << 32));
    }
}
