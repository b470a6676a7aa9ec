// Packages libdreamlens_android.so (built by cargo-ndk into src/main/jniLibs) with ONNX
// Runtime's Android library from the onnxruntime-android package.
plugins {
    id("com.android.application")
}

android {
    namespace = "app.dreamlens"
    compileSdk = 35
    ndkVersion = "27.2.12479018"

    defaultConfig {
        applicationId = "app.dreamlens"
        // AImageReader, AMediaCodec input buffers and the camera NDK at the level the Rust crate
        // is checked against (ndk `api-level-28`).
        minSdk = 28
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += listOf("arm64-v8a") }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    packaging {
        jniLibs { useLegacyPackaging = true }
    }
}

dependencies {
    // libonnxruntime.so with the NNAPI and XNNPACK execution providers. For Qualcomm's QNN
    // provider use com.microsoft.onnxruntime:onnxruntime-android-qnn instead.
    implementation("com.microsoft.onnxruntime:onnxruntime-android:1.31.1")
}
